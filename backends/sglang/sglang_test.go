package sglang_test

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
	"github.com/perfgate/perfgate/backends/sglang"
)

func host(shm int64, m mount.Mount, gpus int) func(*container.HostConfig) {
	return func(hc *container.HostConfig) {
		hc.ShmSize = shm
		hc.Mounts = []mount.Mount{m}
		hc.Ulimits = []*container.Ulimit{{Name: "memlock", Soft: -1, Hard: -1}, {Name: "stack", Soft: 67108864, Hard: 67108864}}
		hc.DeviceRequests = []container.DeviceRequest{{Driver: "nvidia", Count: gpus, Capabilities: [][]string{{"gpu"}}}}
	}
}

// TestRequest checks the exact container requests against SGLang's documented launch
// (sgl-project/sglang docker/compose.yaml):
//
//	image: lmsysorg/sglang:latest
//	volumes: ${HOME}/.cache/huggingface:/root/.cache/huggingface
//	environment: HF_TOKEN=
//	entrypoint: python3 -m sglang.launch_server
//	command: --model-path meta-llama/Llama-3.1-8B-Instruct --host 0.0.0.0 --port 30000
//	ulimits: memlock: -1, stack: 67108864; ipc: host
//	healthcheck: curl -f http://localhost:30000/health
//	deploy.resources.reservations.devices: driver nvidia, count 1, capabilities [gpu]
//
// plus --enable-cache-report, which perfgate needs for cached-token counts, and
// --enable-metrics, without which SGLang serves no /metrics.
func TestRequest(t *testing.T) {
	labels := kittest.Labels("sglang")
	cache := mount.Mount{Type: mount.TypeVolume, Source: backends.DefaultCacheVolume, Target: backends.HFCachePath}
	tests := []struct {
		name  string
		cfg   sglang.Config
		token string
		want  testcontainers.GenericContainerRequest
	}{{
		name: "zero config",
		want: testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image: "lmsysorg/sglang:v0.5.21",
				Cmd: []string{
					"python3", "-m", "sglang.launch_server", "--model-path", "Qwen/Qwen3-0.6B",
					"--host", "0.0.0.0", "--port", "30000", "--tp-size", "1", "--enable-cache-report", "--enable-metrics",
				},
				ExposedPorts:       []string{"30000/tcp"},
				Labels:             labels,
				HostConfigModifier: host(backends.DefaultShmSize, cache, 1),
				WaitingFor:         &kit.Ready{Port: "30000/tcp", Model: "Qwen/Qwen3-0.6B", StartupTimeout: backends.DefaultStartupTimeout},
			},
			Started: true,
		},
	}, {
		name: "tensor parallel with every knob",
		cfg: sglang.Config{
			Image:              "lmsysorg/sglang:latest",
			Model:              "meta-llama/Llama-3.1-8B-Instruct",
			TensorParallelSize: 4,
			MaxRunningRequests: 256,
			DisableRadixCache:  true,
			ExtraArgs:          []string{"--mem-fraction-static", "0.8"},
			CacheDir:           "/data/hf",
			ShmSize:            32 << 30,
			StartupTimeout:     45 * time.Minute,
		},
		token: "hf_secret_for_test",
		want: testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image: "lmsysorg/sglang:latest",
				Cmd: []string{
					"python3", "-m", "sglang.launch_server", "--model-path", "meta-llama/Llama-3.1-8B-Instruct",
					"--host", "0.0.0.0", "--port", "30000", "--tp-size", "4", "--max-running-requests", "256",
					"--disable-radix-cache", "--enable-cache-report", "--enable-metrics", "--mem-fraction-static", "0.8",
				},
				Env:                map[string]string{"HF_TOKEN": "hf_secret_for_test"},
				ExposedPorts:       []string{"30000/tcp"},
				Labels:             labels,
				HostConfigModifier: host(32<<30, mount.Mount{Type: mount.TypeBind, Source: "/data/hf", Target: backends.HFCachePath}, 4),
				WaitingFor:         &kit.Ready{Port: "30000/tcp", Model: "meta-llama/Llama-3.1-8B-Instruct", StartupTimeout: 45 * time.Minute},
			},
			Started: true,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HF_TOKEN", tt.token)
			got, err := sglang.Request(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, kittest.RequestOpts); diff != "" {
				t.Errorf("Request mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
