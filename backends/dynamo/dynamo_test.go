package dynamo_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/dynamo"
	"github.com/perfgate/perfgate/backends/internal/kit"
	"github.com/perfgate/perfgate/backends/internal/kittest"
)

// TestRequest checks the exact requests of a two-worker KV-routed deployment against
// Dynamo's documented launch (docs.nvidia.com/dynamo, Health Checks, "Getting Started
// Quickly"; Frontend Configuration Reference: --http-port default 8000, --router-mode
// round-robin|kv|...; dynamo-run guide: "The vllm and sglang engines require etcd and nats
// with jetstream (nats-server -js)"):
//
//	python -m dynamo.frontend --http-port 8000 &
//	DYN_SYSTEM_PORT=8081 python -m dynamo.vllm --model Qwen/Qwen3-0.6B --enforce-eager &
//
// Workers find etcd and NATS through ETCD_ENDPOINTS and NATS_SERVER, and get disjoint GPUs
// by device ID (a count would give every worker GPU 0).
func TestRequest(t *testing.T) {
	t.Setenv("HF_TOKEN", "")
	cfg := dynamo.Config{
		Model:         "Qwen/Qwen3-0.6B",
		Workers:       2,
		GPUsPerWorker: 2,
		Router:        dynamo.RouterKV,
		WorkerArgs:    []string{"--enforce-eager"},
		Env:           map[string]string{"DYN_LOG": "info"},
	}
	got, err := dynamo.Request(cfg, "net1")
	if err != nil {
		t.Fatal(err)
	}
	image := "nvcr.io/nvidia/ai-dynamo/vllm-runtime:" + dynamo.Version
	cache := []mount.Mount{{Type: mount.TypeVolume, Source: backends.DefaultCacheVolume, Target: backends.HFCachePath}}
	worker := func(i int, gpus ...string) testcontainers.GenericContainerRequest {
		return testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image: image,
				Cmd:   []string{"python3", "-m", "dynamo.vllm", "--model", "Qwen/Qwen3-0.6B", "--enforce-eager"},
				Env: map[string]string{
					"DYN_SYSTEM_ENABLED": "true", "DYN_SYSTEM_PORT": "8081",
					"DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS": `["generate"]`,
					"ETCD_ENDPOINTS":                        "http://etcd:2379", "NATS_SERVER": "nats://nats:4222", "DYN_LOG": "info",
				},
				ExposedPorts:   []string{"8081/tcp"},
				Labels:         kittest.Labels("dynamo-worker-" + string(rune('0'+i))),
				Networks:       []string{"net1"},
				NetworkAliases: map[string][]string{"net1": {"worker-" + string(rune('0'+i))}},
				HostConfigModifier: func(hc *container.HostConfig) {
					hc.ShmSize = backends.DefaultShmSize
					hc.Mounts = cache
					hc.DeviceRequests = []container.DeviceRequest{{Driver: "nvidia", DeviceIDs: gpus, Capabilities: [][]string{{"gpu"}}}}
				},
				WaitingFor: &kit.Ready{Port: "8081/tcp", StartupTimeout: backends.DefaultStartupTimeout},
			},
			Started: true,
		}
	}
	want := dynamo.Requests{
		Etcd: &testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image:          "quay.io/coreos/etcd:v3.5.21",
				Cmd:            []string{"etcd", "--name", "etcd", "--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://etcd:2379"},
				ExposedPorts:   []string{"2379/tcp"},
				Labels:         kittest.Labels("dynamo-etcd"),
				Networks:       []string{"net1"},
				NetworkAliases: map[string][]string{"net1": {"etcd"}},
				WaitingFor:     &kit.Ready{Port: "2379/tcp", StartupTimeout: 2 * time.Minute},
			},
			Started: true,
		},
		NATS: &testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image:          "nats:2.11",
				Cmd:            []string{"-js", "-m", "8222"},
				ExposedPorts:   []string{"8222/tcp"},
				Labels:         kittest.Labels("dynamo-nats"),
				Networks:       []string{"net1"},
				NetworkAliases: map[string][]string{"net1": {"nats"}},
				WaitingFor:     &kit.Ready{Port: "8222/tcp", Path: "/healthz", StartupTimeout: 2 * time.Minute},
			},
			Started: true,
		},
		Workers: []testcontainers.GenericContainerRequest{worker(0, "0", "1"), worker(1, "2", "3")},
		Frontend: testcontainers.GenericContainerRequest{
			ContainerRequest: testcontainers.ContainerRequest{
				Image:          image,
				Cmd:            []string{"python3", "-m", "dynamo.frontend", "--http-port", "8000", "--router-mode", "kv"},
				Env:            map[string]string{"ETCD_ENDPOINTS": "http://etcd:2379", "NATS_SERVER": "nats://nats:4222", "DYN_LOG": "info"},
				ExposedPorts:   []string{"8000/tcp"},
				Labels:         kittest.Labels("dynamo"),
				Networks:       []string{"net1"},
				NetworkAliases: map[string][]string{"net1": {"frontend"}},
				HostConfigModifier: func(hc *container.HostConfig) {
					hc.Mounts = cache
				},
				WaitingFor: &kit.Ready{Port: "8000/tcp", Model: "Qwen/Qwen3-0.6B", StartupTimeout: 10 * time.Minute},
			},
			Started: true,
		},
	}
	if diff := cmp.Diff(want, got, kittest.RequestOpts); diff != "" {
		t.Errorf("Request mismatch (-want +got):\n%s", diff)
	}
}

func TestRequestNoControlPlaneSGLang(t *testing.T) {
	t.Setenv("HF_TOKEN", "")
	got, err := dynamo.Request(dynamo.Config{Engine: "sglang", NoControlPlane: true, GPUsPerWorker: backends.NoGPU}, "n")
	if err != nil {
		t.Fatal(err)
	}
	if got.Etcd != nil || got.NATS != nil {
		t.Errorf("NoControlPlane: got etcd %v, nats %v; want none", got.Etcd, got.NATS)
	}
	if len(got.Workers) != 1 {
		t.Fatalf("got %d workers, want 1", len(got.Workers))
	}
	w := got.Workers[0]
	if diff := cmp.Diff([]string{"python3", "-m", "dynamo.sglang", "--model-path", "Qwen/Qwen3-0.6B"}, w.Cmd); diff != "" {
		t.Errorf("worker cmd (-want +got):\n%s", diff)
	}
	if _, ok := w.Env["ETCD_ENDPOINTS"]; ok {
		t.Errorf("worker env has ETCD_ENDPOINTS without a control plane: %v", w.Env)
	}
	// Discovery through files in a volume the frontend and every worker mount.
	for _, r := range []testcontainers.GenericContainerRequest{w, got.Frontend} {
		if r.Env["DYN_DISCOVERY_BACKEND"] != "file" || r.Env["DYN_FILE_KV"] != "/var/lib/dynamo-discovery" {
			t.Errorf("%v: env %v, want file discovery in /var/lib/dynamo-discovery", r.Cmd, r.Env)
		}
		want := mount.Mount{Type: mount.TypeVolume, Source: "perfgate-dynamo-discovery-n", Target: "/var/lib/dynamo-discovery"}
		if !slices.Contains(kit.HostConfig(r).Mounts, want) {
			t.Errorf("%v mounts %v, want %v", r.Cmd, kit.HostConfig(r).Mounts, want)
		}
	}
	if n := len(kit.HostConfig(w).DeviceRequests); n != 0 {
		t.Errorf("worker has %d device requests with GPUsPerWorker=NoGPU", n)
	}
	if want := "nvcr.io/nvidia/ai-dynamo/sglang-runtime:" + dynamo.Version; w.Image != want {
		t.Errorf("image %q, want %q", w.Image, want)
	}
}

func TestValidate(t *testing.T) {
	err := dynamo.Config{Engine: "llamacpp", Router: "random", Workers: -1}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	const want = "engine \"llamacpp\" is not vllm, sglang or trtllm\nrouter \"random\" is not round-robin or kv\nworkers is -1, want >= 0"
	if err.Error() != want {
		t.Errorf("Validate = %q, want every problem at once:\n%s", err, want)
	}
}
