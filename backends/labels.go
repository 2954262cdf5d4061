package backends

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	// DefaultStartupTimeout bounds how long a backend may take to become ready. It is long
	// because the first start downloads and loads model weights.
	DefaultStartupTimeout = 30 * time.Minute
	// DefaultShmSize is the shared memory given to engine containers; PyTorch uses shared
	// memory between tensor-parallel workers (vLLM docs: use --ipc=host or --shm-size).
	DefaultShmSize = 8 << 30
	// DefaultCacheVolume is the Docker volume that keeps downloaded model weights between
	// runs, mounted at [HFCachePath].
	DefaultCacheVolume = "perfgate-hf-cache"
	// HFCachePath is the Hugging Face cache directory inside the engine images.
	HFCachePath = "/root/.cache/huggingface"
	// NoGPU as a module's Config.GPUs asks for no GPU at all, for images that run on a CPU
	// (such as the simulator image driven through the vllm module).
	NoGPU = -1
	// NoCache as a module's Config.CacheDir mounts no model cache.
	NoCache = "-"

	// LabelBackend is set on every container this package starts; its value is the backend.
	LabelBackend = "org.perfgate.backend"
	// LabelSession marks containers started by this process (see [SessionID]).
	LabelSession = "org.perfgate.session"

	hfTokenEnv = "HF_TOKEN"
	redacted   = "[redacted]"
)

// SessionID identifies this process's containers through the [LabelSession] label:
// "<pid>-<random>@<hostname>", so [RemoveStale] can tell the containers of processes that
// died on this machine.
var SessionID = newSessionID()

func newSessionID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	return strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:]) + "@" + host
}

func parseSession(s string) (pid int, host string, ok bool) {
	id, host, ok := strings.Cut(s, "@")
	if !ok {
		return 0, "", false
	}
	p, _, ok := strings.Cut(id, "-")
	if !ok {
		return 0, "", false
	}
	pid, err := strconv.Atoi(p)
	return pid, host, err == nil && pid > 0
}
