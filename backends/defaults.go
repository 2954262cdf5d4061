package backends

import "github.com/perfgate/perfgate/backends/internal/kit"

const (
	// DefaultStartupTimeout bounds how long a backend may take to become ready: 30 minutes,
	// because the first start downloads and loads model weights.
	DefaultStartupTimeout = kit.DefaultStartupTimeout
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

	hfTokenEnv = "HF_TOKEN"
	redacted   = "[redacted]"
)
