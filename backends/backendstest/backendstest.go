// Package backendstest holds the TestMain of packages whose tests start backend containers.
package backendstest

import (
	"context"
	"fmt"
	"os"
	"strings"

	"go.uber.org/goleak"

	"github.com/perfgate/perfgate/backends/internal/kit"
)

// Main runs the tests of a package that starts containers and exits. Before the tests it
// defaults testcontainers' environment for an engine without a registry
// (TESTCONTAINERS_RYUK_DISABLED and TESTCONTAINERS_HOST_OVERRIDE where unset and needed, see
// package backends) and removes containers that dead test processes left behind; after
// them (m is the *testing.M, or perftest/perfmain.Wrap of it) it fails the run when a container the tests created is left or, when the tests
// passed, when a goroutine leaked (goleak).
//
//	func TestMain(m *testing.M) { backendstest.Main(m) }
func Main(m interface{ Run() int }) {
	ctx := context.Background()
	if set := kit.SetTestEnv(ctx); len(set) > 0 {
		fmt.Fprintf(os.Stderr, "testcontainers environment defaulted: %s\n", strings.Join(set, " "))
	}
	code := m.Run()
	if left, err := kit.Leftovers(ctx); err == nil && len(left) > 0 {
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
