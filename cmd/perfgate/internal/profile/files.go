package profile

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/perfgate/perfgate/internal/atomicfile"
)

// WriteFiles writes dir/profile.json, the fitted profile in the format perfgate mock
// --profile reads (mock.LoadProfile), and dir/points.json, the whole result: every point,
// both fits, the KV capacity. Each file is written atomically. It returns the profile's
// path.
func (r *Result) WriteFiles(dir string) (string, error) {
	write := func(name string, v any) error {
		return atomicfile.Write(filepath.Join(dir, name), func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		})
	}
	path := filepath.Join(dir, "profile.json")
	if err := write("profile.json", r.Profile); err != nil {
		return "", fmt.Errorf("write profile: %w", err)
	}
	if err := write("points.json", r); err != nil {
		return "", fmt.Errorf("write profile points: %w", err)
	}
	return path, nil
}
