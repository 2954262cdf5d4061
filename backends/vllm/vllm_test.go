package vllm_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/internal/kit"
	"github.com/perfgate/perfgate/backends/internal/kittest"
	"github.com/perfgate/perfgate/backends/vllm"
)

func gpuHost(n int) func(*container.HostConfig) {
	return func(hc *container.HostConfig) {
		hc.ShmSize = backends.DefaultShmSize
		hc.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: backends.DefaultCacheVolume, Target: backends.HFCachePath}}
		hc.DeviceRequests = []container.DeviceRequest{{Driver: "nvidia", Count: n, Capabilities: [][]string{{"gpu"}}}}
	}
}

// TestRequest checks the exact container requests against vLLM's documented launch line
// (https://docs.vllm.ai/en/stable/deployment/docker/, "Using Docker"):
//
//	docker run --runtime nvidia --gpus all \
//	    -v ~/.cache/huggingface:/root/.cache/huggingface \
//	    --env "HF_TOKEN=$HF_TOKEN" -p 8000:8000 --ipc=host \
//	    vllm/vllm-openai:latest Qwen/Qwen3-0.6B
//
// "You can add any other engine-args you need after the image tag" and "You can either use
// the ipc=host flag or --shm-size flag": the module sets --shm-size, mounts the cache as a
// named volume, passes HF_TOKEN, and hands the launch flags to the image's entrypoint as
// arguments (no entrypoint override). The image's entrypoint is `vllm serve`, which takes
// the model positionally; ModelFlag passes --model for older images whose entrypoint was the
// api_server module. VLLM_SERVER_DEV_MODE=1 serves POST
// /reset_prefix_cache, which perf cases call between repetitions.
func TestRequest(t *testing.T) {
	tests := []struct {
		name  string
		cfg   vllm.Config
		opts  []testcontainers.ContainerCustomizer
		token string
		want  testcontainers.GenericContainerRequest
	}{{
		name: "zero config",
		want: testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image: "vllm/vllm-openai:v0.32.0",
				Cmd: []string{
					"Qwen/Qwen3-0.6B", "--host", "0.0.0.0", "--port", "8000",
					"--tensor-parallel-size", "1", "--enable-prefix-caching", "--enable-prompt-tokens-details",
				},
				Env:                map[string]string{"VLLM_SERVER_DEV_MODE": "1"},
				ExposedPorts:       []string{"8000/tcp"},
				Labels:             kittest.Labels("vllm"),
				HostConfigModifier: gpuHost(1),
				WaitingFor:         &kit.Ready{Port: "8000/tcp", Model: "Qwen/Qwen3-0.6B", StartupTimeout: backends.DefaultStartupTimeout},
			},
			Started: true,
		},
	}, {
		name: "tensor parallel with every knob",
		cfg: vllm.Config{
			Image:              "vllm/vllm-openai:v0.10.2",
			ModelFlag:          true,
			Model:              "meta-llama/Llama-3.1-8B-Instruct",
			TensorParallelSize: 2,
			MaxNumSeqs:         128,
			NoPrefixCaching:    true,
			ExtraArgs:          []string{"--max-model-len", "8192"},
			CacheDir:           "/srv/hf",
			ShmSize:            1 << 30,
			Env:                map[string]string{"VLLM_LOGGING_LEVEL": "DEBUG"},
			StartupTimeout:     time.Hour,
		},
		token: "hf_secret_for_test",
		want: testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image: "vllm/vllm-openai:v0.10.2",
				Cmd: []string{
					"--model", "meta-llama/Llama-3.1-8B-Instruct", "--host", "0.0.0.0", "--port", "8000",
					"--tensor-parallel-size", "2", "--max-num-seqs", "128", "--no-enable-prefix-caching",
					"--enable-prompt-tokens-details", "--max-model-len", "8192",
				},
				Env:          map[string]string{"VLLM_SERVER_DEV_MODE": "1", "VLLM_LOGGING_LEVEL": "DEBUG", "HF_TOKEN": "hf_secret_for_test"},
				ExposedPorts: []string{"8000/tcp"},
				Labels:       kittest.Labels("vllm"),
				HostConfigModifier: func(hc *container.HostConfig) {
					hc.ShmSize = 1 << 30
					hc.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: "/srv/hf", Target: backends.HFCachePath}}
					hc.DeviceRequests = []container.DeviceRequest{{Driver: "nvidia", Count: 2, Capabilities: [][]string{{"gpu"}}}}
				},
				WaitingFor: &kit.Ready{Port: "8000/tcp", Model: "meta-llama/Llama-3.1-8B-Instruct", StartupTimeout: time.Hour},
			},
			Started: true,
		},
	}, {
		name: "simulator image, no GPU, no cache, user options win",
		cfg:  vllm.Config{Image: "perfgate-mock:dev", Model: "sim-llama-8b", MaxNumSeqs: 16, GPUs: backends.NoGPU, CacheDir: backends.NoCache},
		opts: []testcontainers.ContainerCustomizer{
			testcontainers.WithImage("perfgate-mock:other"),
			testcontainers.WithEnv(map[string]string{"X": "1"}),
		},
		want: testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image: "perfgate-mock:other",
				Cmd: []string{
					"sim-llama-8b", "--host", "0.0.0.0", "--port", "8000",
					"--tensor-parallel-size", "1", "--max-num-seqs", "16", "--enable-prefix-caching",
					"--enable-prompt-tokens-details",
				},
				Env:                map[string]string{"VLLM_SERVER_DEV_MODE": "1", "X": "1"},
				ExposedPorts:       []string{"8000/tcp"},
				Labels:             kittest.Labels("vllm"),
				HostConfigModifier: func(hc *container.HostConfig) { hc.ShmSize = backends.DefaultShmSize },
				WaitingFor:         &kit.Ready{Port: "8000/tcp", Model: "sim-llama-8b", StartupTimeout: backends.DefaultStartupTimeout},
			},
			Started: true,
		},
	}, {
		// Traces: vLLM exports its llm_request spans over OTLP/HTTP (protobuf) to the
		// receiver perftest runs on the Docker host, batched every half second.
		name: "traces",
		cfg:  vllm.Config{Traces: true, TracesPort: 43170},
		want: testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image: "vllm/vllm-openai:v0.32.0",
				Cmd: []string{
					"Qwen/Qwen3-0.6B", "--host", "0.0.0.0", "--port", "8000",
					"--tensor-parallel-size", "1", "--enable-prefix-caching", "--enable-prompt-tokens-details",
					"--otlp-traces-endpoint", "http://host.docker.internal:43170/v1/traces",
				},
				Env: map[string]string{"VLLM_SERVER_DEV_MODE": "1", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
					"OTEL_BSP_SCHEDULE_DELAY": "500"},
				ExposedPorts: []string{"8000/tcp"},
				Labels:       kittest.Labels("vllm"),
				HostConfigModifier: func(hc *container.HostConfig) {
					gpuHost(1)(hc)
					hc.ExtraHosts = []string{"host.docker.internal:host-gateway"}
				},
				WaitingFor: &kit.Ready{Port: "8000/tcp", Model: "Qwen/Qwen3-0.6B", StartupTimeout: backends.DefaultStartupTimeout},
			},
			Started: true,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HF_TOKEN", tt.token)
			got, err := vllm.Request(tt.cfg, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, kittest.RequestOpts); diff != "" {
				t.Errorf("Request(%+v) mismatch (-want +got):\n%s", tt.cfg, diff)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	t.Setenv("HF_TOKEN", "hf_secret_for_test")
	req, err := vllm.Request(vllm.Config{TensorParallelSize: 4, Env: map[string]string{"A": "b c"}})
	if err != nil {
		t.Fatal(err)
	}
	got := kit.IdentityOf("vllm", vllm.DefaultModel, req)
	want := map[string]string{"backend": "vllm", "model": "Qwen/Qwen3-0.6B", "image": "vllm/vllm-openai:v0.32.0", "gpus": "4"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identity mismatch (-want +got):\n%s", diff)
	}
}

// TestTracesAddress: a container started with Traces tells perftest where to receive its
// spans, and its histograms of the request phases; one without tells neither.
func TestTracesAddress(t *testing.T) {
	spec := vllm.Config{Traces: true, TracesPort: 43170}.Spec()
	names := backends.Endpoint("http://x", spec.Engine).MetricNames()
	if names["otlp-traces"] != ":43170" || names["prefill-time"] != "vllm:request_prefill_time_seconds" {
		t.Errorf("MetricNames = %v", names)
	}
	if _, ok := vllm.Endpoint("http://x").MetricNames()["otlp-traces"]; ok {
		t.Error("a server without tracing claims spans")
	}
	if spec := (vllm.Config{Traces: true}).Spec(); spec.Engine.TracesAddr == ":0" || spec.Engine.TracesAddr == "" {
		t.Errorf("TracesPort 0 picks a free port, got %q", spec.Engine.TracesAddr)
	}
}
