package trtllm_test

import (
	"fmt"
	"strings"

	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends/trtllm"
)

func ExampleConfig_Cmd() {
	cfg := trtllm.Config{Model: "TinyLlama/TinyLlama-1.1B-Chat-v1.0", MaxBatchSize: 64}
	fmt.Println(strings.Join(cfg.Cmd(), " "))
	// Output:
	// trtllm-serve TinyLlama/TinyLlama-1.1B-Chat-v1.0 --host 0.0.0.0 --port 8000 --backend pytorch --tp_size 1 --max_batch_size 64 --extra_llm_api_options /etc/perfgate/extra-llm-api-options.yaml
}

// Every started backend is a perftest.Target and perftest.Describer (stated structurally:
// backends does not import perftest) and a testcontainers.Container.
var (
	_ interface {
		BaseURL() string
		Describe() map[string]string
	} = (*trtllm.Container)(nil)
	_ testcontainers.Container = (*trtllm.Container)(nil)
)
