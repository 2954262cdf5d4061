// Package dynamo runs an NVIDIA Dynamo deployment (an OpenAI-compatible frontend with its
// router, N engine workers, and the etcd and NATS servers it discovers them through) as
// testcontainers-go containers on one Docker network, for perf cases.
//
//	srv := dynamo.Start(t, dynamo.Config{Model: "Qwen/Qwen3-0.6B", Workers: 2, Router: dynamo.RouterKV})
//	res := perftest.Run(t, perftest.Case{Target: srv, ...})
//
// The processes are the ones Dynamo's docs start by hand, checked against Dynamo 1.2's
// components/src/dynamo/frontend/frontend_args.py and lib/runtime/src/config/
// environment_names.rs:
//
//	python -m dynamo.frontend --http-port 8000 --router-mode kv
//	DYN_SYSTEM_PORT=8081 python -m dynamo.vllm --model Qwen/Qwen3-0.6B
//
// with ETCD_ENDPOINTS and NATS_SERVER pointing at the etcd and NATS containers. With
// NoControlPlane there is neither: every process discovers the others through files
// (DYN_DISCOVERY_BACKEND=file) in a Docker volume they share (DYN_FILE_KV), and KV events
// go over ZMQ, which Dynamo picks for file discovery. Each worker gets its own GPUs and its
// system status server; the workers start first and are ready when their /health answers,
// then the frontend is ready when /health answers and /v1/models lists the model.
//
// What perfgate knows of Dynamo ([Engine]): the frontend's metrics are dynamo_frontend_*
// (its queue, and the cached and input tokens of every request, from which the prefix hit
// ratio follows; the engines' own metrics are on each worker's system port, not read). The
// cache reset POST /clear_kv_blocks existed from mid-2025 and is gone from current
// releases: where it answers 404 the result records the reset as unavailable.
//
// The server's account of each request's phases: the frontend has no histogram of a
// request's queue, prefill or decode (its time-to-first-token and duration histograms are
// the client's view again; the engines' own phase histograms are on each worker's system
// port, which this module does not read), so results from Dynamo carry no server-side
// split per repetition. Per request, Dynamo's runtime exports OTLP spans of its own work
// with OTEL_EXPORT_ENABLED=1 (to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, over gRPC: docs'
// environment variables table; the frontend and workers continue a request's
// traceparent), but they carry no gen_ai.latency attributes of queue, prefill or decode,
// so the module does not turn them on: perftest's join would find nothing in them to
// split a latency with. Dynamo puts no timings on the stream.
package dynamo

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/internal/kit"
	perfengines "github.com/perfgate/perfgate/perftest/engines"
)

const (
	// Version is the Dynamo release of the default images (NGC tags carry no "v").
	Version = "1.2.1"
	// DefaultModel is the model served when Config.Model is empty.
	DefaultModel = "Qwen/Qwen3-0.6B"
	// DefaultEtcdImage and DefaultNATSImage run Dynamo's control plane.
	DefaultEtcdImage = "quay.io/coreos/etcd:v3.5.21"
	DefaultNATSImage = "nats:2.11"

	// Port is the frontend's HTTP port; SystemPort is each worker's status server.
	Port       = "8000/tcp"
	SystemPort = "8081/tcp"

	// RouterRoundRobin and RouterKV are the frontend's --router-mode values.
	RouterRoundRobin = "round-robin"
	RouterKV         = "kv"
)

// Engines maps Config.Engine to the worker's Python module and its model flag.
var engines = map[string]struct{ module, modelFlag, image string }{
	"vllm":   {"dynamo.vllm", "--model", "nvcr.io/nvidia/ai-dynamo/vllm-runtime:" + Version},
	"sglang": {"dynamo.sglang", "--model-path", "nvcr.io/nvidia/ai-dynamo/sglang-runtime:" + Version},
	"trtllm": {"dynamo.trtllm", "--model-path", "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:" + Version},
}

// Config describes a Dynamo deployment. The zero value runs one vLLM worker on one GPU
// behind a round-robin frontend, with etcd and NATS.
type Config struct {
	// Image runs the frontend and the workers; the engine's Dynamo runtime image at Version
	// when empty.
	Image string
	// Model is the worker's model flag; DefaultModel when empty.
	Model string
	// Engine is "vllm" (default), "sglang" or "trtllm".
	Engine string
	// Workers is the number of engine workers; 1 when 0.
	Workers int
	// GPUsPerWorker is how many GPUs each worker gets (worker i gets GPUs
	// i*GPUsPerWorker ... ); 1 when 0, backends.NoGPU for none.
	GPUsPerWorker int
	// Router is the frontend's --router-mode: RouterRoundRobin (default) or RouterKV.
	Router string
	// WorkerArgs and FrontendArgs are appended to the worker's and the frontend's flags.
	WorkerArgs, FrontendArgs []string
	// NoControlPlane starts no etcd and NATS: discovery goes through files in a Docker volume
	// the frontend and the workers share, and KV events over ZMQ.
	NoControlPlane bool
	// EtcdImage and NATSImage replace DefaultEtcdImage and DefaultNATSImage.
	EtcdImage, NATSImage string

	// CacheDir is the Hugging Face cache: a Docker volume name or an absolute host path,
	// backends.DefaultCacheVolume when empty, backends.NoCache for none.
	CacheDir string
	// ShmSize is each worker's /dev/shm in bytes; backends.DefaultShmSize when 0.
	ShmSize int64
	// Env is extra environment for the frontend and workers; HF_TOKEN comes from the
	// process environment.
	Env map[string]string
	// StartupTimeout bounds each worker's model loading; backends.DefaultStartupTimeout when 0.
	StartupTimeout time.Duration
	// LogDir receives the containers' logs; Start uses t.ArtifactDir() when empty.
	LogDir string
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if _, ok := engines[cmp.Or(c.Engine, "vllm")]; !ok {
		errs = append(errs, fmt.Errorf("engine %q is not vllm, sglang or trtllm", c.Engine))
	}
	if r := cmp.Or(c.Router, RouterRoundRobin); r != RouterRoundRobin && r != RouterKV {
		errs = append(errs, fmt.Errorf("router %q is not %s or %s", c.Router, RouterRoundRobin, RouterKV))
	}
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers is %d, want >= 0", c.Workers))
	}
	return errors.Join(errs...)
}

// Requests are the container requests of a deployment, in start order.
type Requests struct {
	Etcd, NATS *testcontainers.GenericContainerRequest // nil with NoControlPlane
	Workers    []testcontainers.GenericContainerRequest
	Frontend   testcontainers.GenericContainerRequest
}

// Request returns the container requests Run would send for cfg on the Docker network
// named netName, with opts applied to the frontend's request after the module's defaults.
// It does not contact Docker.
func Request(cfg Config, netName string, opts ...testcontainers.ContainerCustomizer) (Requests, error) {
	d, err := specs(cfg, netName)
	if err != nil {
		return Requests{}, err
	}
	var r Requests
	build := func(s *backends.Spec) (*testcontainers.GenericContainerRequest, error) {
		if s == nil {
			return nil, nil
		}
		req, err := s.Build()
		return &req, err
	}
	if r.Etcd, err = build(d.etcd); err != nil {
		return Requests{}, err
	}
	if r.NATS, err = build(d.nats); err != nil {
		return Requests{}, err
	}
	for _, w := range d.workers {
		req, err := w.Build()
		if err != nil {
			return Requests{}, err
		}
		r.Workers = append(r.Workers, req)
	}
	if r.Frontend, err = d.frontend.Build(opts...); err != nil {
		return Requests{}, err
	}
	return r, nil
}

// deployment holds the container specs of a deployment, in start order.
type deployment struct {
	etcd, nats *backends.Spec // nil with NoControlPlane
	workers    []backends.Spec
	frontend   backends.Spec
	volume     map[string]string // the discovery volume with NoControlPlane
}

// discoveryPath is where the processes of a deployment without a control plane share
// their discovery files.
const discoveryPath = "/var/lib/dynamo-discovery"

// discoveryVolume names the discovery volume of the deployment on network netName.
func discoveryVolume(netName string) string { return "perfgate-dynamo-discovery-" + netName }

func specs(cfg Config, netName string) (deployment, error) {
	if err := cfg.Validate(); err != nil {
		return deployment{}, err
	}
	eng := engines[cmp.Or(cfg.Engine, "vllm")]
	image := cmp.Or(cfg.Image, eng.image)
	model := cmp.Or(cfg.Model, DefaultModel)
	env := map[string]string{}
	var volumes map[string]string
	if cfg.NoControlPlane {
		env["DYN_DISCOVERY_BACKEND"] = "file"
		env["DYN_FILE_KV"] = discoveryPath
		volumes = map[string]string{discoveryVolume(netName): discoveryPath}
	} else {
		env["ETCD_ENDPOINTS"] = "http://etcd:2379"
		env["NATS_SERVER"] = "nats://nats:4222"
	}
	maps.Copy(env, cfg.Env)
	d := deployment{volume: volumes}
	if !cfg.NoControlPlane {
		d.etcd, d.nats = controlPlane(cfg, netName)
	}
	// A worker serves no OpenAI API: it is ready when its status server says so.
	worker := backends.Spec{
		Image:      image,
		Model:      model,
		Cmd:        append([]string{"python3", "-m", eng.module, eng.modelFlag, model}, cfg.WorkerArgs...),
		Port:       SystemPort,
		ShmSize:    cmp.Or(cfg.ShmSize, backends.DefaultShmSize),
		CacheDir:   cmp.Or(cfg.CacheDir, backends.DefaultCacheVolume),
		Env:        env,
		Timeout:    cfg.StartupTimeout,
		Networks:   []string{netName},
		HealthOnly: true,
		Volumes:    d.volume,
	}
	d.workers = workers(worker, max(cfg.Workers, 1), cmp.Or(cfg.GPUsPerWorker, 1))
	d.frontend = backends.Spec{
		Backend: "dynamo",
		Image:   image,
		Model:   model,
		Cmd: append([]string{
			"python3", "-m", "dynamo.frontend",
			"--http-port", "8000",
			"--router-mode", cmp.Or(cfg.Router, RouterRoundRobin),
		}, cfg.FrontendArgs...),
		Port:     Port,
		CacheDir: cmp.Or(cfg.CacheDir, backends.DefaultCacheVolume),
		Env:      env,
		Timeout:  10 * time.Minute,
		Networks: []string{netName},
		Aliases:  []string{"frontend"},
		Volumes:  d.volume,
		Engine:   Engine,
	}
	return d, nil
}

// controlPlane are the specs of etcd and NATS on network netName, reached by those names.
func controlPlane(cfg Config, netName string) (etcd, nats *backends.Spec) {
	etcdImage := cmp.Or(cfg.EtcdImage, DefaultEtcdImage)
	etcd = &backends.Spec{
		Backend: "dynamo-etcd",
		Image:   etcdImage,
		Cmd: []string{
			"etcd", "--name", "etcd",
			"--listen-client-urls", "http://0.0.0.0:2379",
			"--advertise-client-urls", "http://etcd:2379",
		},
		Port:       "2379/tcp",
		Timeout:    2 * time.Minute,
		Networks:   []string{netName},
		Aliases:    []string{"etcd"},
		HealthOnly: true,
		NoHFToken:  true,
		Describe:   kit.Identity("etcd", "-", etcdImage, 0),
	}
	natsImage := cmp.Or(cfg.NATSImage, DefaultNATSImage)
	nats = &backends.Spec{
		Backend:    "dynamo-nats",
		Image:      natsImage,
		Cmd:        []string{"-js", "-m", "8222"},
		Port:       "8222/tcp",
		HealthPath: "/healthz",
		Timeout:    2 * time.Minute,
		Networks:   []string{netName},
		Aliases:    []string{"nats"},
		HealthOnly: true,
		NoHFToken:  true,
		Describe:   kit.Identity("nats", "-", natsImage, 0),
	}
	return etcd, nats
}

// workers are the specs of n workers made from base: each with its own name, alias and
// status server, and gpw GPUs of its own by device ID (worker i gets GPUs i*gpw ... ;
// a count would give every worker GPU 0).
func workers(base backends.Spec, n, gpw int) []backends.Spec {
	ws := make([]backends.Spec, n)
	for i := range ws {
		w := base
		w.Backend = "dynamo-worker-" + strconv.Itoa(i)
		w.Cmd = slices.Clone(base.Cmd)
		w.Aliases = []string{"worker-" + strconv.Itoa(i)}
		w.Networks = slices.Clone(base.Networks)
		w.Env = map[string]string{
			"DYN_SYSTEM_ENABLED":                    "true",
			"DYN_SYSTEM_PORT":                       "8081",
			"DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS": `["generate"]`,
		}
		maps.Copy(w.Env, base.Env)
		w.DeviceIDs = nil
		for g := range max(gpw, 0) {
			w.DeviceIDs = append(w.DeviceIDs, strconv.Itoa(i*gpw+g))
		}
		ws[i] = w
	}
	return ws
}

// Engine is what perfgate knows of the Dynamo frontend (see the package doc).
var Engine = backends.Engine{
	Name: "dynamo",
	MetricNames: map[string]string{
		"prefix-hits":    "dynamo_frontend_cached_tokens_sum",
		"prefix-queries": "dynamo_frontend_input_sequence_tokens_sum",
		"waiting":        "dynamo_frontend_queued_requests",
	},
	Reset: func(ctx context.Context, base string) error {
		body, err := kit.Call(ctx, http.MethodPost, base+"/clear_kv_blocks")
		if err != nil {
			return fmt.Errorf("clear Dynamo KV blocks: %w", err)
		}
		var ans struct {
			Failed []any `json:"failed_workers"`
		}
		if json.Unmarshal(body, &ans) == nil && len(ans.Failed) > 0 {
			return fmt.Errorf("clear Dynamo KV blocks: %d workers failed: %s", len(ans.Failed), body)
		}
		return nil
	},
	Request: request,
}

// Endpoint is a Dynamo frontend you run, at url.
func Endpoint(url string) *backends.Server { return backends.Endpoint(url, Engine) }

// The engine is known by name to -perf.engine (perftest/engines) wherever this module is
// linked.
func init() {
	perfengines.Register(Engine.Name, func(url string) perfengines.Target { return Endpoint(url) })
}

// removeVolume removes a deployment's discovery volume ("": none).
func removeVolume(ctx context.Context, name string) error {
	if name == "" {
		return nil
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	if _, err := cli.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: true}); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// identity describes the deployment by the frontend's image, the model and the GPUs of all
// workers. Router mode and worker count are tunables, so they are not part of it.
func identity(cfg Config, image string) map[string]string {
	gpus := max(cfg.Workers, 1) * max(cmp.Or(cfg.GPUsPerWorker, 1), 0)
	return kit.Identity("dynamo", cmp.Or(cfg.Model, DefaultModel), image, gpus)
}

// starter starts one container of the deployment: backends.Run, with Track in tests.
type starter func(s backends.Spec, opts ...testcontainers.ContainerCustomizer) (*backends.Container, error)

func deploy(cfg Config, netName string, start starter, opts []testcontainers.ContainerCustomizer, c *Container) error {
	d, err := specs(cfg, netName)
	if err != nil {
		return err
	}
	if d.etcd != nil {
		if c.Etcd, err = start(*d.etcd); err != nil {
			return err
		}
		if c.NATS, err = start(*d.nats); err != nil {
			return err
		}
	}
	// Workers load their models concurrently.
	c.Workers = make([]*backends.Container, len(d.workers))
	errs := make([]error, len(d.workers))
	var wg sync.WaitGroup
	for i, w := range d.workers {
		wg.Go(func() { c.Workers[i], errs[i] = start(w) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	front := d.frontend
	req, err := front.Build(opts...)
	if err != nil {
		return err
	}
	front.Describe = identity(cfg, req.Image)
	c.Container, err = start(front, opts...)
	return err
}

// Run creates a network, starts etcd and NATS (unless NoControlPlane), the workers and the
// frontend, and waits until the frontend lists the model. On error it returns what was
// started too, so the caller can terminate it; errors read "start dynamo: ...".
func Run(ctx context.Context, cfg Config, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("start dynamo: %w", err)
	}
	if cmp.Or(cfg.GPUsPerWorker, 1) > 0 {
		ok, err := kit.NvidiaRuntime(ctx)
		if err != nil {
			return nil, fmt.Errorf("start dynamo: %w: %w", backends.ErrNoDocker, err)
		}
		if !ok {
			return nil, fmt.Errorf("start dynamo: %w", backends.ErrNoGPU)
		}
	}
	nw, err := network.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("start dynamo: network: %w", err)
	}
	c := &Container{Network: nw}
	if cfg.NoControlPlane {
		c.Volume = discoveryVolume(nw.Name)
	}
	o := backends.Options{LogDir: cfg.LogDir}
	err = deploy(cfg, nw.Name, func(s backends.Spec, opts ...testcontainers.ContainerCustomizer) (*backends.Container, error) {
		return backends.Run(ctx, s, o, opts...)
	}, opts, c)
	if err != nil {
		return c, fmt.Errorf("start dynamo: %w", err)
	}
	return c, nil
}

// Start is Run for tests: it skips tb without Docker or GPUs, removes every container and
// the network when the test ends, keeps each container's log, and fails tb with the exit
// code and log tail if any of them exits while the test runs.
func Start(tb testing.TB, cfg Config, opts ...testcontainers.ContainerCustomizer) *Container {
	tb.Helper()
	if err := cfg.Validate(); err != nil {
		tb.Fatalf("start dynamo: %v", err)
	}
	backends.SkipIfNoDocker(tb)
	if cmp.Or(cfg.GPUsPerWorker, 1) > 0 {
		if ok, err := kit.NvidiaRuntime(tb.Context()); err != nil || !ok {
			tb.Skipf("skipping dynamo: %v (%v)", backends.ErrNoGPU, err)
		}
	}
	nw, err := network.New(tb.Context())
	testcontainers.CleanupNetwork(tb, nw)
	if err != nil {
		tb.Fatalf("start dynamo: network: %v", err)
	}
	c := &Container{Network: nw}
	if cfg.NoControlPlane {
		// Registered before the containers' removal, so it runs after it.
		c.Volume = discoveryVolume(nw.Name)
		tb.Cleanup(func() {
			if err := removeVolume(context.Background(), c.Volume); err != nil {
				tb.Errorf("start dynamo: %v", err)
			}
		})
	}
	o := backends.Options{LogDir: cfg.LogDir}
	ctx, cancel := kit.StartContext(tb)
	defer cancel()
	if d, ok := ctx.Deadline(); ok {
		// The containers are removed at d if the test binary is about to time out
		// (kit.Track); the network goes a moment later.
		timer := time.AfterFunc(time.Until(d)+time.Second, func() { _ = nw.Remove(context.Background()) })
		tb.Cleanup(func() { timer.Stop() })
	}
	err = deploy(cfg, nw.Name, func(s backends.Spec, opts ...testcontainers.ContainerCustomizer) (*backends.Container, error) {
		// backends.Start may call Fatal, which must run on the test goroutine: workers
		// start concurrently, so use Run and Track.
		ctr, err := backends.Run(ctx, s, o, append(opts, testcontainers.WithLogger(tclog.TestLogger(tb)))...)
		kit.Track(tb, ctr)
		return ctr, err
	}, opts, c)
	if err != nil {
		tb.Fatalf("start dynamo: %v", err)
	}
	for _, x := range c.all() {
		x.Watch(tb)
	}
	return c
}
