package trtllm_test

import (
	"fmt"
	"strings"

	"github.com/perfgate/perfgate/backends/trtllm"
)

func ExampleConfig_Cmd() {
	cfg := trtllm.Config{Model: "TinyLlama/TinyLlama-1.1B-Chat-v1.0", MaxBatchSize: 64}
	fmt.Println(strings.Join(cfg.Cmd(), " "))
	// Output:
	// trtllm-serve TinyLlama/TinyLlama-1.1B-Chat-v1.0 --host 0.0.0.0 --port 8000 --backend pytorch --tp_size 1 --max_batch_size 64
}
