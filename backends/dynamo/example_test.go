package dynamo_test

import (
	"fmt"
	"strings"

	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends/dynamo"
)

// The processes of a two-worker, KV-routed deployment, in start order.
func ExampleRequest() {
	reqs, err := dynamo.Request(dynamo.Config{Workers: 2, Router: dynamo.RouterKV}, "perfgate-net")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("etcd:    ", strings.Join(reqs.Etcd.Cmd, " "))
	fmt.Println("nats:    ", strings.Join(reqs.NATS.Cmd, " "))
	for i, w := range reqs.Workers {
		fmt.Printf("worker %d: %s\n", i, strings.Join(w.Cmd, " "))
	}
	fmt.Println("frontend:", strings.Join(reqs.Frontend.Cmd, " "))
	// Output:
	// etcd:     etcd --name etcd --listen-client-urls http://0.0.0.0:2379 --advertise-client-urls http://etcd:2379
	// nats:     -js -m 8222
	// worker 0: python3 -m dynamo.vllm --model Qwen/Qwen3-0.6B
	// worker 1: python3 -m dynamo.vllm --model Qwen/Qwen3-0.6B
	// frontend: python3 -m dynamo.frontend --http-port 8000 --router-mode kv
}

// A started deployment is a perftest.Target and perftest.Describer (stated structurally:
// backends does not import perftest) and a testcontainers.Container.
var (
	_ interface {
		BaseURL() string
		Describe() map[string]string
	} = (*dynamo.Container)(nil)
	_ testcontainers.Container = (*dynamo.Container)(nil)
)
