package backends_test

import (
	"testing"

	"github.com/perfgate/perfgate/backends"
)

func TestGPUCount(t *testing.T) {
	for _, tc := range []struct{ gpus, tp, want int }{
		{0, 0, 1}, {0, 4, 4}, {backends.NoGPU, 4, 0}, {2, 4, 2},
	} {
		if got := backends.GPUCount(tc.gpus, tc.tp); got != tc.want {
			t.Errorf("GPUCount(%d, %d) = %d, want %d", tc.gpus, tc.tp, got, tc.want)
		}
	}
}
