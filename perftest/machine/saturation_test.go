package machine

import (
	"math"
	"testing"

	"github.com/perfgate/perfgate/perftest/metric"
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

// Per-chunk ITL on a busier side is the client's read pattern as much as the server's: it
// can be explained whole; per-token ITL only by the wake-up model.
func TestPerChunkITLOnABusierSide(t *testing.T) {
	c := Comparison{Busier: 1, baseMedians: map[string]float64{metric.ITLP50: 0.003}, metrics: metric.Default(),
		Base: Figures{Pressure: 0.1, WakeP50: 1e-4}, Cur: Figures{Pressure: 0.2, WakeP50: 1e-4}}
	if got := c.Explain(metric.ITLP50); got != 0 {
		t.Errorf("per-token ITL, same wake-up delay: explains %v, want 0", got)
	}
	c.perChunk = true
	if got := c.Explain(metric.ITLP50); !math.IsInf(got, 1) {
		t.Errorf("per-chunk ITL on the busier side: explains %v, want +Inf", got)
	}
}
