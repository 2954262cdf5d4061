package llamacpp

import (
	"testing"

	"github.com/perfgate/perfgate/backends/backendstest"
)

func TestMain(m *testing.M) { backendstest.Main(m) }
