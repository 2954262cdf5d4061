package kit

import (
	"net"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
)

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

// IdentityOf is [Identity] for a built request: the image and GPU count come from req as
// customised, so options that change the image are reflected.
func IdentityOf(backend, model string, req testcontainers.GenericContainerRequest) map[string]string {
	gpus := 0
	for _, d := range HostConfig(req).DeviceRequests {
		gpus += max(d.Count, len(d.DeviceIDs))
	}
	return Identity(backend, model, req.Image, gpus)
}

// GPUCount resolves a module's Config.GPUs: 0 attaches one GPU per tensor-parallel rank (at
// least one), backends.NoGPU (any negative value) none, a positive value that many.
func GPUCount(gpus, tensorParallel int) int {
	switch {
	case gpus == 0:
		return max(tensorParallel, 1)
	case gpus < 0:
		return 0
	}
	return gpus
}

// NVIDIAUlimits are the ulimits NVIDIA's and SGLang's container guides pass
// (--ulimit memlock=-1 --ulimit stack=67108864).
func NVIDIAUlimits() []container.Ulimit {
	return []container.Ulimit{
		{Name: "memlock", Soft: -1, Hard: -1},
		{Name: "stack", Soft: 67108864, Hard: 67108864},
	}
}

// FreePort returns a TCP port free on every interface of this machine right now, for a
// service a container is to reach on the host (4318, OTLP/HTTP's own port, when none can
// be found).
func FreePort() int {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		return 4318
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
