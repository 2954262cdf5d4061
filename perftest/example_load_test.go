package perftest_test

import (
	"fmt"
	"time"

	"github.com/perfgate/perfgate/perftest"
)

// Each load model has a config value that results record; runs of different loads are
// never compared.
func ExampleLoad() {
	fmt.Println(perftest.Concurrency(16))
	fmt.Println(perftest.PoissonRate(20))
	fmt.Println(perftest.GammaRate(20, 0.5))
	fmt.Println(perftest.TraceTime(2))
	fmt.Println(perftest.Load{Rate: 5, Stages: []perftest.Stage{{Duration: time.Minute, Rate: 50}}, MaxInFlight: 64})
	fmt.Println(perftest.Load{Concurrency: 4, Rate: 3}.Validate())
	// Output:
	// concurrency=16
	// rate=20,poisson
	// rate=20,gamma,burstiness=0.5
	// trace-time,speedup=2
	// rate=5,constant,stage=1m0s:50,max-in-flight=64
	// Load sets more than one of Concurrency, Rate/Stages and TraceTime; choose one
}
