package fullfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
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
