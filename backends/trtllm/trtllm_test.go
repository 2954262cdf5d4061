package trtllm_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/internal/kit"
	"github.com/perfgate/perfgate/backends/internal/kittest"
	"github.com/perfgate/perfgate/backends/trtllm"
)

func optionsFile(content string) []testcontainers.ContainerFile {
	return []testcontainers.ContainerFile{{Reader: bytes.NewReader([]byte(content)), ContainerFilePath: "/etc/perfgate/extra-llm-api-options.yaml", FileMode: 0o644}}
}

// TestRequest checks the exact container requests against TensorRT-LLM's quick start guide
// (https://nvidia.github.io/TensorRT-LLM/quick-start-guide.html):
//
//	docker run --rm -it --ipc host --gpus all --ulimit memlock=-1 --ulimit stack=67108864 \
//	    -p 8000:8000 nvcr.io/nvidia/tensorrt-llm/release:<tag>
//	trtllm-serve "TinyLlama/TinyLlama-1.1B-Chat-v1.0"
//
// and the trtllm-serve reference (trtllm-serve MODEL --host --port --backend pytorch
// --tp_size --max_batch_size --max_num_tokens). --host 0.0.0.0 is needed because the
// default, localhost, is unreachable through a published port.
func TestRequest(t *testing.T) {
	t.Setenv("HF_TOKEN", "")
	labels := kittest.Labels("trtllm")
	tests := []struct {
		name string
		cfg  trtllm.Config
		want testcontainers.GenericContainerRequest
	}{{
		name: "zero config",
		want: testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image: "nvcr.io/nvidia/tensorrt-llm/release:1.2.1",
				Cmd: []string{"trtllm-serve", "Qwen/Qwen3-0.6B", "--host", "0.0.0.0", "--port", "8000", "--backend", "pytorch", "--tp_size", "1",
					"--extra_llm_api_options", "/etc/perfgate/extra-llm-api-options.yaml"},
				ExposedPorts: []string{"8000/tcp"},
				Labels:       labels,
				// Without them trtllm-serve serves no Prometheus metrics.
				Files: optionsFile("return_perf_metrics: true\nenable_iter_perf_stats: true\nperf_metrics_max_requests: 65536\n"),
				HostConfigModifier: func(hc *container.HostConfig) {
					hc.ShmSize = backends.DefaultShmSize
					hc.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: backends.DefaultCacheVolume, Target: backends.HFCachePath}}
					hc.Ulimits = []*container.Ulimit{{Name: "memlock", Soft: -1, Hard: -1}, {Name: "stack", Soft: 67108864, Hard: 67108864}}
					hc.DeviceRequests = []container.DeviceRequest{{Driver: "nvidia", Count: 1, Capabilities: [][]string{{"gpu"}}}}
				},
				WaitingFor: &kit.Ready{Port: "8000/tcp", Model: "Qwen/Qwen3-0.6B", StartupTimeout: backends.DefaultStartupTimeout},
			},
			Started: true,
		},
	}, {
		name: "tensorrt backend, 8 GPUs, no cache",
		cfg: trtllm.Config{
			Model: "/engines/llama-70b", Backend: "tensorrt", TensorParallelSize: 8,
			MaxBatchSize: 256, MaxNumTokens: 8192, CacheDir: backends.NoCache, ShmSize: -1,
			ExtraArgs: []string{"--kv_cache_free_gpu_memory_fraction", "0.9", "--extra_llm_api_options", "/mine.yaml"},
		},
		want: testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image: "nvcr.io/nvidia/tensorrt-llm/release:1.2.1",
				// The user's own options file replaces the module's.
				Cmd: []string{
					"trtllm-serve", "/engines/llama-70b", "--host", "0.0.0.0", "--port", "8000", "--backend", "tensorrt",
					"--tp_size", "8", "--max_batch_size", "256", "--max_num_tokens", "8192",
					"--kv_cache_free_gpu_memory_fraction", "0.9", "--extra_llm_api_options", "/mine.yaml",
				},
				ExposedPorts: []string{"8000/tcp"},
				Labels:       labels,
				HostConfigModifier: func(hc *container.HostConfig) {
					hc.Ulimits = []*container.Ulimit{{Name: "memlock", Soft: -1, Hard: -1}, {Name: "stack", Soft: 67108864, Hard: 67108864}}
					hc.DeviceRequests = []container.DeviceRequest{{Driver: "nvidia", Count: 8, Capabilities: [][]string{{"gpu"}}}}
				},
				WaitingFor: &kit.Ready{Port: "8000/tcp", Model: "/engines/llama-70b", StartupTimeout: backends.DefaultStartupTimeout},
			},
			Started: true,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := trtllm.Request(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, kittest.RequestOpts); diff != "" {
				t.Errorf("Request mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEngine(t *testing.T) {
	e := trtllm.Endpoint("http://h:8000/v1")
	if got := e.MetricsURL(); got != "http://h:8000/prometheus/metrics" {
		t.Errorf("MetricsURL = %q: trtllm-serve's Prometheus text is at /prometheus/metrics", got)
	}
	if err := e.ResetPrefixCache(t.Context()); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("ResetPrefixCache = %v, want errors.ErrUnsupported: trtllm-serve has no reset", err)
	}
}
