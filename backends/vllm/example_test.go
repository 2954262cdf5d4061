package vllm_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends/vllm"
)

// The launch flags a Config turns into, as the image's entrypoint receives them.
func ExampleConfig_Args() {
	cfg := vllm.Config{Model: "meta-llama/Llama-3.1-8B-Instruct", TensorParallelSize: 2, MaxNumSeqs: 64}
	fmt.Println(strings.Join(cfg.Args(), " "))
	// Output:
	// meta-llama/Llama-3.1-8B-Instruct --host 0.0.0.0 --port 8000 --tensor-parallel-size 2 --max-num-seqs 64 --enable-prefix-caching --enable-prompt-tokens-details
}

// Run outside a test (needs Docker and an NVIDIA GPU). In a test, vllm.Start(t, cfg) does
// the same, skips without Docker or GPU, and cleans up.
func ExampleRun() {
	ctx := context.Background()
	ctr, err := vllm.Run(ctx, vllm.Config{Model: "Qwen/Qwen3-0.6B", MaxNumSeqs: 64},
		testcontainers.WithEnv(map[string]string{"VLLM_LOGGING_LEVEL": "DEBUG"})) // user options win
	defer func() {
		if err := testcontainers.TerminateContainer(ctr); err != nil {
			log.Print(err)
		}
	}()
	if err != nil {
		log.Print(err)
		return
	}
	fmt.Println(ctr.BaseURL(), ctr.Describe())
}

// Every started backend is a perftest.Target and perftest.Describer (stated structurally:
// backends does not import perftest) and a testcontainers.Container.
var (
	_ interface {
		BaseURL() string
		Describe() map[string]string
	} = (*vllm.Container)(nil)
	_ testcontainers.Container = (*vllm.Container)(nil)
)
