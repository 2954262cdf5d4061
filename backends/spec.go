package backends

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/testcontainers/testcontainers-go"
)

// Spec is the engine-independent part of a backend container: what a module hands to
// [Spec.Request] after turning its Config into an image, a command line and a port.
type Spec struct {
	Backend    string             // engine name, e.g. "vllm"; also the Describe "backend" value
	Image      string             // image reference
	Model      string             // served model name, as /v1/models lists it
	Entrypoint []string           // replaces the image's entrypoint when set
	Cmd        []string           // command (or arguments to the entrypoint)
	Port       string             // container port of the OpenAI server, e.g. "8000/tcp"
	GPUs       int                // GPUs to attach with an nvidia device request; 0 for none
	DeviceIDs  []string           // which GPUs, by index or UUID; overrides GPUs when set
	ShmSize    int64              // /dev/shm size in bytes; 0 for Docker's default
	Ulimits    []container.Ulimit // ulimits, e.g. memlock=-1 as NVIDIA's images recommend
	CacheDir   string             // host dir (absolute) or volume name for HFCachePath; "" for none
	Env        map[string]string  // environment; HF_TOKEN is added from the process environment
	Timeout    time.Duration      // startup timeout; 0 means DefaultStartupTimeout
	Networks   []string           // networks to join
	Aliases    []string           // aliases on those networks
	Name       string             // container name; "" lets Docker choose
	HealthPath string             // readiness path on Port; "/health" when empty
	HealthOnly bool               // readiness is HealthPath alone, not /v1/models listing Model
	NoHFToken  bool               // a service that loads no model: HF_TOKEN is not passed to it
	// Files are copied into the container before it starts: path in the container to
	// content (such as an engine's options file).
	Files map[string][]byte
	// Volumes are Docker volumes to mount: volume name to path in the container (created by
	// Docker when missing; the module that names one removes it).
	Volumes map[string]string
	// Describe is the started container's Describe map; IdentityOf's (backend, model, image
	// as started, gpus) when nil.
	Describe map[string]string
	// Engine is what perfgate knows of the engine (cache reset, metrics, vocabulary).
	Engine Engine
}

// Request builds the testcontainers request for s: image, entrypoint, command, environment,
// exposed port, labels, shared memory, model cache mount, GPU device request and the
// [Ready] wait strategy (GET HealthPath answering 200 and, when Model is set, /v1/models
// listing it). It contacts no Docker engine.
func (s Spec) Request() (testcontainers.GenericContainerRequest, error) {
	var errs []error
	if s.Backend == "" {
		errs = append(errs, errors.New("backend name is empty"))
	}
	if s.Image == "" {
		errs = append(errs, errors.New("image is empty"))
	}
	if s.Port == "" {
		errs = append(errs, errors.New("port is empty"))
	}
	if s.GPUs < 0 {
		errs = append(errs, fmt.Errorf("gpus is %d, want >= 0", s.GPUs))
	}
	if err := errors.Join(errs...); err != nil {
		return testcontainers.GenericContainerRequest{}, err
	}
	env := maps.Clone(s.Env)
	if tok := os.Getenv(hfTokenEnv); tok != "" && !s.NoHFToken {
		if env == nil {
			env = map[string]string{}
		}
		env[hfTokenEnv] = tok
	}
	var aliases map[string][]string
	if len(s.Aliases) > 0 {
		aliases = map[string][]string{}
		for _, n := range s.Networks {
			aliases[n] = s.Aliases
		}
	}
	hc := hostConfig{ShmSize: s.ShmSize, GPUs: s.GPUs, DeviceIDs: s.DeviceIDs, Ulimits: s.Ulimits}
	switch {
	case s.CacheDir == "" || s.CacheDir == NoCache:
	case filepath.IsAbs(s.CacheDir):
		hc.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: s.CacheDir, Target: HFCachePath}}
	default:
		hc.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: s.CacheDir, Target: HFCachePath}}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Volumes)) {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: name, Target: s.Volumes[name]})
	}
	var files []testcontainers.ContainerFile
	for _, p := range slices.Sorted(maps.Keys(s.Files)) {
		files = append(files, testcontainers.ContainerFile{Reader: bytes.NewReader(s.Files[p]), ContainerFilePath: p, FileMode: 0o644})
	}
	ready := &Ready{
		Port:           s.Port,
		Path:           s.HealthPath,
		Model:          s.Model,
		StartupTimeout: cmp.Or(s.Timeout, DefaultStartupTimeout),
	}
	if s.HealthOnly {
		ready.Model = ""
	}
	return testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:              s.Image,
			Entrypoint:         s.Entrypoint,
			Cmd:                s.Cmd,
			Env:                env,
			ExposedPorts:       []string{s.Port},
			Labels:             map[string]string{LabelBackend: s.Backend, LabelSession: SessionID},
			Name:               s.Name,
			Networks:           s.Networks,
			NetworkAliases:     aliases,
			HostConfigModifier: hc.apply,
			Files:              files,
			WaitingFor:         ready,
		},
		Started: true,
	}, nil
}

// hostConfig is the part of the Docker host configuration a Spec sets.
type hostConfig struct {
	ShmSize   int64
	GPUs      int
	DeviceIDs []string
	Mounts    []mount.Mount
	Ulimits   []container.Ulimit
}

func (h hostConfig) apply(hc *container.HostConfig) {
	if h.ShmSize > 0 {
		hc.ShmSize = h.ShmSize
	}
	hc.Mounts = append(hc.Mounts, h.Mounts...)
	for _, u := range h.Ulimits {
		hc.Ulimits = append(hc.Ulimits, &u)
	}
	switch {
	case len(h.DeviceIDs) > 0:
		hc.DeviceRequests = append(hc.DeviceRequests, container.DeviceRequest{
			Driver:       "nvidia",
			DeviceIDs:    h.DeviceIDs,
			Capabilities: [][]string{{"gpu"}},
		})
	case h.GPUs > 0:
		hc.DeviceRequests = append(hc.DeviceRequests, container.DeviceRequest{
			Driver:       "nvidia",
			Count:        h.GPUs,
			Capabilities: [][]string{{"gpu"}},
		})
	}
}

// HostConfig applies req's HostConfigModifier to an empty host configuration and returns
// the result: the shared memory, mounts and device requests a request asks for. Tests use it
// to compare requests, whose modifier is a function.
func HostConfig(req testcontainers.GenericContainerRequest) container.HostConfig {
	var hc container.HostConfig
	if req.HostConfigModifier != nil {
		req.HostConfigModifier(&hc)
	}
	return hc
}

// Identity is the Describe map of a backend: the keys that identify the system under test.
// Values have spaces replaced, as benchmark config values cannot hold them.
func Identity(backend, model, image string, gpus int) map[string]string {
	clean := func(s string) string { return strings.Join(strings.Fields(s), "_") }
	return map[string]string{
		"backend": clean(backend),
		"model":   clean(model),
		"image":   clean(image),
		"gpus":    strconv.Itoa(max(gpus, 0)),
	}
}

// Build is [Spec.Request] with opts applied after the module's defaults, so user options
// win. It contacts no Docker engine.
func (s Spec) Build(opts ...testcontainers.ContainerCustomizer) (testcontainers.GenericContainerRequest, error) {
	req, _, err := s.build(opts)
	return req, err
}

// build is Build with the Describe map of the container it describes.
func (s Spec) build(opts []testcontainers.ContainerCustomizer) (testcontainers.GenericContainerRequest, map[string]string, error) {
	req, err := s.Request()
	if err != nil {
		return req, nil, err
	}
	if err := Customize(&req, opts...); err != nil {
		return req, nil, err
	}
	ident := s.Describe
	if ident == nil {
		ident = IdentityOf(s.Backend, s.Model, req)
	}
	return req, ident, nil
}

// GPUCount resolves a module's Config.GPUs: 0 attaches one GPU per tensor-parallel rank (at
// least one), NoGPU (any negative value) none, a positive value that many.
func GPUCount(gpus, tensorParallel int) int {
	switch {
	case gpus == 0:
		return max(tensorParallel, 1)
	case gpus < 0:
		return 0
	}
	return gpus
}

// IdentityOf is [Identity] for a built request: the image and GPU count come from req as
// customised, so options that change the image are reflected.
func IdentityOf(backend, model string, req testcontainers.GenericContainerRequest) map[string]string {
	gpus := 0
	for _, d := range HostConfig(req).DeviceRequests {
		gpus += max(d.Count, len(d.DeviceIDs))
	}
	return Identity(backend, model, req.Image, gpus)
}

// Customize applies opts to req in order, after the module's defaults, so user options win.
func Customize(req *testcontainers.GenericContainerRequest, opts ...testcontainers.ContainerCustomizer) error {
	for _, o := range opts {
		if err := o.Customize(req); err != nil {
			return err
		}
	}
	return nil
}

// NVIDIAUlimits are the ulimits NVIDIA's and SGLang's container guides pass
// (--ulimit memlock=-1 --ulimit stack=67108864).
func NVIDIAUlimits() []container.Ulimit {
	return []container.Ulimit{
		{Name: "memlock", Soft: -1, Hard: -1},
		{Name: "stack", Soft: 67108864, Hard: 67108864},
	}
}
