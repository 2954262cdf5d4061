package workloads

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/perfgate/perfgate/perftest/perfmain"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(perfmain.Wrap(m)) }
