package perftest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

// listModels asks the server for the ids of the models it serves, within timeout and a
// 1 MiB size limit. setting names where the user sets the model, for the error messages.
func listModels(ctx context.Context, base, setting string, timeout time.Duration) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/models", nil)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("list models at %s: no answer within %v (set %s to skip this)", base, timeout, setting)
	}
	if err != nil {
		return nil, fmt.Errorf("list models at %s: %w (is the server up? set %s to skip this)", base, err, setting)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list models at %s: HTTP %d (set %s)", base, resp.StatusCode, setting)
	}
	var body struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	const limit = 1 << 20
	lr := &io.LimitedReader{R: resp.Body, N: limit}
	if err := json.NewDecoder(lr).Decode(&body); err != nil {
		switch {
		case lr.N == 0:
			return nil, fmt.Errorf("list models at %s: the answer is over 1 MiB, not a model list (set %s)", base, setting)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return nil, fmt.Errorf("list models at %s: the answer did not end within %v (set %s)", base, timeout, setting)
		}
		return nil, fmt.Errorf("list models at %s: not a model list: %v (set %s)", base, err, setting)
	}
	var ids []string
	for _, m := range body.Data {
		if m.ID == "" {
			return nil, fmt.Errorf("list models at %s: a model with an empty id (set %s)", base, setting)
		}
		ids = append(ids, m.ID)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("list models at %s: no model in the answer (set %s)", base, setting)
	}
	return ids, nil
}

// modelName is the config value of a model: a model named by a file path (llama.cpp
// serves the file it loaded) is recorded by its base name, so that two runs of the same
// model compare after the file moved.
func modelName(id string) string {
	if strings.HasPrefix(id, "/") || strings.HasSuffix(strings.ToLower(id), ".gguf") || len(id) > 2 && id[1] == ':' && (id[2] == '\\' || id[2] == '/') {
		return filepath.Base(filepath.FromSlash(strings.ReplaceAll(id, "\\", "/")))
	}
	return id
}
