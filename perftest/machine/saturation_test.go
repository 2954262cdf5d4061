package machine

import (
	"math"
	"testing"
)

// A saturated busier side (PSI pressure near 100%) explains a bounded share of every latency
// beyond the wake-up model, which sees little when the scheduler favours its sleeps; a
// merely busy one does not.
func TestSaturationShare(t *testing.T) {
	calm := Figures{Pressure: 0.16}
	if got := saturationShare(Figures{Pressure: 1.0}, calm); math.Abs(got-0.126) > 1e-9 {
		t.Errorf("pressure 100%% vs 16%%: explains %.4f, want 0.126", got)
	}
	if got := saturationShare(Figures{Pressure: 0.45}, calm); got != 0 {
		t.Errorf("pressure 45%%: explains %.4f, want 0 (not saturated)", got)
	}
	if got := saturationShare(Figures{Pressure: 0.9}, Figures{Pressure: 0.8}); got != 0 {
		t.Errorf("both saturated: explains %.4f, want 0", got)
	}
}
