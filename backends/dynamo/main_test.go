package dynamo_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/perfgate/perfgate/backends"
)

// TestMain defaults testcontainers' environment for an engine without a registry (see
// backends.SetTestEnv), then proves that no container the tests created is left and no
// goroutine leaked.
func TestMain(m *testing.M) {
	if set := backends.SetTestEnv(context.Background()); len(set) > 0 {
		fmt.Fprintf(os.Stderr, "dynamo: testcontainers environment defaulted: %s\n", strings.Join(set, " "))
	}
	code := m.Run()
	if left, err := backends.Leftovers(context.Background()); err == nil && len(left) > 0 {
		fmt.Fprintf(os.Stderr, "containers left behind: %q\n", left)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
