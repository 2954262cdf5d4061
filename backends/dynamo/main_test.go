package dynamo_test

import (
	"testing"

	"github.com/perfgate/perfgate/backends/backendstest"
)

// TestMain checks that no container or goroutine outlives the tests.
func TestMain(m *testing.M) { backendstest.Main(m) }
