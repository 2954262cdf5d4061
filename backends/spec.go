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
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends/internal/kit"
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
	ExtraHosts []string           // extra /etc/hosts lines, "name:ip" ("host.docker.internal:host-gateway")
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
	// Describe is the started container's Describe map; when nil: backend, model, the image
	// as started (after options) and the number of GPUs.
	Describe map[string]string
	// Engine is what perfgate knows of the engine (cache reset, metrics, vocabulary).
	Engine Engine
}

// Request builds the testcontainers request for s: image, entrypoint, command, environment,
// exposed port, labels, shared memory, model cache mount, GPU device request and the
// wait strategy (GET HealthPath answering 200 and, when Model is set, /v1/models listing
// it; a container that exits while loading fails at once). It contacts no Docker engine.
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
	hc := hostConfig{ShmSize: s.ShmSize, GPUs: s.GPUs, DeviceIDs: s.DeviceIDs, Ulimits: s.Ulimits, ExtraHosts: s.ExtraHosts}
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
	ready := &kit.Ready{
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
			Labels:             map[string]string{kit.LabelBackend: s.Backend, kit.LabelSession: kit.SessionID},
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
	ShmSize    int64
	GPUs       int
	DeviceIDs  []string
	Mounts     []mount.Mount
	Ulimits    []container.Ulimit
	ExtraHosts []string
}

func (h hostConfig) apply(hc *container.HostConfig) {
	if h.ShmSize > 0 {
		hc.ShmSize = h.ShmSize
	}
	hc.Mounts = append(hc.Mounts, h.Mounts...)
	hc.ExtraHosts = append(hc.ExtraHosts, h.ExtraHosts...)
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
	if err := customize(&req, opts...); err != nil {
		return req, nil, err
	}
	ident := s.Describe
	if ident == nil {
		ident = kit.IdentityOf(s.Backend, s.Model, req)
	}
	return req, ident, nil
}

// customize applies opts to req in order, after the module's defaults, so user options win.
func customize(req *testcontainers.GenericContainerRequest, opts ...testcontainers.ContainerCustomizer) error {
	for _, o := range opts {
		if err := o.Customize(req); err != nil {
			return err
		}
	}
	return nil
}
