package container

import (
	"testing"

	"github.com/perfgate/perfgate/backends/backendstest"
	"github.com/perfgate/perfgate/perftest/perfmain"
)

func TestMain(m *testing.M) { backendstest.Main(perfmain.Wrap(m)) }
