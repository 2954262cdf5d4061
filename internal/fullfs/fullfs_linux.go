package fullfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

func mount(dir string, size int) error {
	return syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size))
}

// runChild runs the test again in new user and mount namespaces, as root of its own, with
// envDir set to dir.
func runChild(t *testing.T, dir string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+pattern(t.Name()), "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envDir+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exit):
		t.Skipf("no small filesystem for this test: starting a child in a new user namespace failed (%v): user namespaces are off here", err)
	case err != nil && containsMountFailure(out):
		t.Skipf("no small filesystem for this test: the child could not mount a tmpfs in its namespaces:\n%s", out)
	case err != nil:
		t.Fatalf("the test on a small filesystem failed:\n%s", out)
	}
}

// Fill fills the filesystem of dir with a file, leaving about leave bytes free, and returns
// the file's path: removing it frees the space again.
func Fill(t testing.TB, dir string, leave int64) string {
	t.Helper()
	path := filepath.Join(dir, "fullfs.filler")
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatalf("fill %s: %v", dir, err)
	}
	free := int64(st.Bavail) * st.Bsize
	if err := os.WriteFile(path, make([]byte, max(free-leave, 0)), 0o644); err != nil {
		t.Fatalf("fill %s: %v", dir, err)
	}
	return path
}
