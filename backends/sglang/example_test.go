package sglang_test

import (
	"fmt"
	"strings"

	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends/sglang"
)

func ExampleConfig_Cmd() {
	cfg := sglang.Config{Model: "Qwen/Qwen3-8B", TensorParallelSize: 2}
	fmt.Println(strings.Join(cfg.Cmd(), " "))
	// Output:
	// python3 -m sglang.launch_server --model-path Qwen/Qwen3-8B --host 0.0.0.0 --port 30000 --tp-size 2 --enable-cache-report --enable-metrics
}

// Every started backend is a perftest.Target and perftest.Describer (stated structurally:
// backends does not import perftest) and a testcontainers.Container.
var (
	_ interface {
		BaseURL() string
		Describe() map[string]string
	} = (*sglang.Container)(nil)
	_ testcontainers.Container = (*sglang.Container)(nil)
)
