// Package fullfs runs a test's body on a small filesystem of its own, so that the test can
// fill it and see what a full disk does to a write. On Linux the test binary runs the test
// again in a child process with its own user and mount namespaces, where it mounts a tmpfs
// of the size asked for; where that is not possible (no user namespaces, another system)
// the test is skipped, saying why.
package fullfs

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// envDir names, in the child process, the folder the tmpfs is mounted on.
const envDir = "PERFGATE_FULLFS_DIR"

// Run runs body with the folder of a filesystem of size bytes: in a child process, whose
// output and failure the test reports. body runs only in the child; in the parent, Run
// returns once the child has.
func Run(t *testing.T, size int, body func(t *testing.T, dir string)) {
	t.Helper()
	if dir := os.Getenv(envDir); dir != "" {
		if err := mount(dir, size); err != nil {
			t.Fatalf("%s a %d-byte tmpfs on %s: %v", mountFailure, size, dir, err)
		}
		body(t, dir)
		return
	}
	runChild(t, t.TempDir())
}

// mountFailure begins the child's message when it could not mount its filesystem.
const mountFailure = "fullfs: cannot mount"

func containsMountFailure(out []byte) bool { return strings.Contains(string(out), mountFailure) }

// pattern is the -test.run pattern that selects exactly the test named name (a subtest's
// name holds its parents', "/"-separated).
func pattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}
