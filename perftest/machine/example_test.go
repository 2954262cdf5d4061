package machine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/perfgate/perfgate/perftest/machine"
)

// Sample the GPUs while a repetition runs. Without nvidia-smi, Stop says so and the
// repetition gets no GPU metrics.
func ExampleStartGPUSampler() {
	ctx := context.Background()
	s := machine.StartGPUSampler(ctx, "", 500*time.Millisecond)
	time.Sleep(2 * time.Second) // the repetition
	stats := s.Stop()
	fmt.Println(stats) // "GPU telemetry: 8 GPUs, 32 readings: SM 1980 MHz ..." or why nothing was sampled
	if stats.Throttled() {
		fmt.Println("this repetition measured a GPU that slowed down:", stats.Reasons&machine.Slowdowns)
	}
	_ = stats.Metrics() // gpu-* metrics for the repetition's result line
}
