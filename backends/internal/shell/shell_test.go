package shell

import (
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/perfgate/perfgate/backends"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// module is a module's Container type.
type module struct{ *backends.Container }

func TestWrap(t *testing.T) {
	if got := wrap[module](nil); got != nil {
		t.Errorf("wrap(nil) = %v, want nil: a module returns no container when none was created", got)
	}
	c := &backends.Container{}
	if got := wrap[module](c); got == nil || got.Container != c {
		t.Errorf("wrap(c) = %v, want the module's Container embedding c", got)
	}
}

// TestRunBadSpec shows that a spec Run cannot build creates nothing: the module's Run
// returns a nil *Container (not one holding nil) with the spec's problems.
func TestRunBadSpec(t *testing.T) {
	c, err := Run[module](t.Context(), backends.Spec{Backend: "x"}, "", nil)
	if c != nil || err == nil || !strings.Contains(err.Error(), "start x: image is empty") {
		t.Errorf("Run(bad spec) = %v, %v; want nil, start x: image is empty ...", c, err)
	}
}
