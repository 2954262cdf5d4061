package capacity

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// BytesPerElement maps the data types the estimate knows to their size in bytes.
var BytesPerElement = map[string]float64{
	"fp32": 4, "float32": 4, "bf16": 2, "bfloat16": 2, "fp16": 2, "float16": 2, "half": 2,
	"fp8": 1, "float8": 1, "float8_e4m3fn": 1, "int8": 1, "int4": 0.5, "fp4": 0.5, "nvfp4": 0.5, "mxfp4": 0.5,
}

// Options say what hardware and requests to estimate for. The zero value estimates one
// 80 GiB GPU at 90% utilization, weights and KV cache in the config's dtype (bf16 when it
// names none), blocks of 16 tokens, no ISL/OSL.
type Options struct {
	// GPUMemory is the memory of one GPU in bytes (0: 80 GiB).
	GPUMemory int64
	// Utilization is the fraction of GPU memory the engine may use (0: 0.9, vLLM's
	// --gpu-memory-utilization default).
	Utilization float64
	// Reserved is memory per GPU kept for activations and the runtime, in bytes, taken off
	// before the KV cache (0: none; vLLM profiles its own).
	Reserved int64
	// TP is the tensor-parallel degree: weights split over TP GPUs (0: 1).
	TP int
	// DType and KVDType are the weights' and the KV cache's data types ("": the config's
	// quantization or torch_dtype; the KV cache defaults to the weights' type unless they
	// are quantized below 16 bits, when it stays at the config's torch_dtype).
	DType, KVDType string
	// BlockSize is the KV block size in tokens (0: 16); a sequence takes whole blocks.
	BlockSize int
	// ISL and OSL, when both are > 0, size the largest batch.
	ISL, OSL int
}

// Estimate is the outcome, every figure for the whole model unless it says per GPU.
type Estimate struct {
	Model              string  `json:"model"`
	Attention          string  `json:"attention"` // "MHA", "GQA", "MQA" or "MLA"
	Parameters         int64   `json:"parameters"`
	ActiveParameters   int64   `json:"active_parameters"` // per token (the experts used, for MoE)
	DType              string  `json:"dtype"`
	KVDType            string  `json:"kv_dtype"`
	WeightBytes        int64   `json:"weight_bytes"`
	KVBytesPerToken    int64   `json:"kv_bytes_per_token"`
	TP                 int     `json:"tp"`
	GPUMemory          int64   `json:"gpu_memory_bytes"`
	Utilization        float64 `json:"gpu_utilization"`
	WeightBytesPerGPU  int64   `json:"weight_bytes_per_gpu"`
	KVBytesPerTokenGPU int64   `json:"kv_bytes_per_token_per_gpu"`
	KVBytesPerGPU      int64   `json:"kv_cache_bytes_per_gpu"`
	BlockSize          int     `json:"block_size"`
	KVBlocks           int64   `json:"kv_blocks"`
	KVTokens           int64   `json:"kv_tokens"`
	ISL                int     `json:"isl,omitempty"`
	OSL                int     `json:"osl,omitempty"`
	MaxBatch           int64   `json:"max_batch,omitempty"`
	MaxKVTokens        int64   `json:"max_kv_tokens,omitempty"`
	Fits               bool    `json:"fits"` // weights and at least one block fit
}

// ParseBytes reads a memory size: a number with an optional unit B, KB, MB, GB, TB (powers
// of 1000), KiB, MiB, GiB, TiB (powers of 1024), or K, M, G, T (taken as binary, as GPU
// memory is quoted): "80GiB", "141GB", "24G", "8e10".
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	num := strings.TrimRightFunc(t, func(r rune) bool { return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' })
	unit := strings.ToLower(strings.TrimSpace(t[len(num):]))
	mult, ok := map[string]float64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[unit]
	if !ok {
		return 0, fmt.Errorf("memory size %q: unknown unit %q", s, unit)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("memory size %q: want a positive number with a unit such as 80GiB", s)
	}
	if v*mult > MaxMemory {
		return 0, fmt.Errorf("memory size %q: over the limit of 1 PiB", s)
	}
	return int64(v * mult), nil
}

// Limits of the estimate's inputs: far above any real GPU, model or request, and low
// enough that no product of them overflows an int64.
const (
	// MaxMemory bounds GPUMemory and Reserved (1 PiB; a GPU has at most a few hundred GiB).
	MaxMemory = 1 << 50
	// MaxTokens bounds ISL and OSL (2^40 tokens; models take at most a few million).
	MaxTokens = 1 << 40
	// MaxBlockSize bounds BlockSize (engines use 1 to 256).
	MaxBlockSize = 1 << 20
)

// Params counts the model's parameters and those a token uses (all of them for a dense
// model; the shared layers and ExpertsPerToken experts for MoE).
func (c Config) Params() (total, active int64) {
	t, a := c.params()
	return int64(t), int64(a)
}

// maxExact bounds counts kept in float64 so that they stay exact integers.
const maxExact = 1 << 53

// params counts in float64, exact below maxExact (ParseConfig rejects configs above it).
func (c Config) params() (total, active float64) {
	f := func(v int) float64 { return float64(v) }
	h := f(c.Hidden)
	var attn float64
	if c.MLA() {
		qk, heads := f(c.QKNopeHeadDim+c.QKRopeHeadDim), f(c.Heads)
		if c.QLoraRank > 0 {
			q := f(c.QLoraRank)
			attn += h*q + q + q*heads*qk // q_a_proj, q_a_layernorm, q_b_proj
		} else {
			attn += h * heads * qk
		}
		kv := f(c.KVLoraRank)
		attn += h*(kv+f(c.QKRopeHeadDim)) + kv + kv*heads*f(c.QKNopeHeadDim+c.VHeadDim) // kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj
		attn += heads * f(c.VHeadDim) * h                                               // o_proj
	} else {
		hd := f(c.HeadDim)
		attn = h*f(c.Heads)*hd + 2*h*f(c.KVHeads)*hd + f(c.Heads)*hd*h // q, k, v, o
	}
	norms := 2 * h
	dense := 3 * h * f(c.Intermediate) // gate, up, down
	layers := f(c.Layers)
	embed := f(c.Vocab) * h
	if !c.TieEmbeddings {
		embed *= 2
	}
	total = embed + h + layers*(attn+norms) // + the final norm
	active = total
	if !c.MoE() {
		return total + layers*dense, active + layers*dense
	}
	expert := 3 * h * f(c.MoEIntermediate)
	e := f(c.Experts)
	shared := f(c.SharedExperts) * expert
	if c.SharedIntermediate > 0 {
		shared += 3*h*f(c.SharedIntermediate) + h // Qwen's shared expert and its gate
	}
	router := h * e
	if c.MLA() {
		router += e // DeepSeek-V3's e_score_correction_bias
	}
	dl := f(c.FirstDenseLayers)
	ml := layers - dl
	k := f(c.ExpertsPerToken)
	if k == 0 {
		k = e
	}
	total += dl*dense + ml*(e*expert+shared+router)
	active += dl*dense + ml*(k*expert+shared+router)
	return total, active
}

// KVElementsPerToken is the number of KV-cache elements one token needs over all layers.
func (c Config) KVElementsPerToken() int64 { return int64(c.kvElements()) }

func (c Config) kvElements() float64 {
	if c.MLA() {
		return float64(c.Layers) * float64(c.KVLoraRank+c.QKRopeHeadDim)
	}
	return 2 * float64(c.Layers) * float64(c.KVHeads) * float64(c.HeadDim)
}

func (c Config) attention() string {
	switch {
	case c.MLA():
		return "MLA"
	case c.KVHeads == c.Heads:
		return "MHA"
	case c.KVHeads == 1:
		return "MQA"
	}
	return "GQA"
}

func dtypeName(s string) string {
	switch strings.ToLower(s) {
	case "bfloat16":
		return "bf16"
	case "float16", "half":
		return "fp16"
	case "float32":
		return "fp32"
	case "float8", "float8_e4m3fn":
		return "fp8"
	}
	return strings.ToLower(s)
}

// Estimate sizes the model on the hardware opt describes.
func (c Config) Estimate(opt Options) (Estimate, error) {
	opt = opt.withDefaults()
	dt, kvdt, dtErr := c.dtypes(opt)
	if err := errors.Join(dtErr, opt.check(c, dt, kvdt)); err != nil {
		return Estimate{}, err
	}
	total, active := c.Params()
	e := Estimate{
		Model: c.Architecture, Attention: c.attention(), Parameters: total, ActiveParameters: active,
		DType: dt, KVDType: kvdt, TP: opt.TP, GPUMemory: opt.GPUMemory, Utilization: opt.Utilization, BlockSize: opt.BlockSize,
		ISL: opt.ISL, OSL: opt.OSL,
	}
	if e.Model == "" {
		e.Model = c.ModelType
	}
	e.WeightBytes = int64(math.Ceil(float64(total) * BytesPerElement[dt]))
	e.KVBytesPerToken = int64(math.Ceil(float64(c.KVElementsPerToken()) * BytesPerElement[kvdt]))
	e.WeightBytesPerGPU = (e.WeightBytes + int64(opt.TP) - 1) / int64(opt.TP)
	// Tensor parallelism splits KV heads over the GPUs, each GPU holding at least one (a
	// head is replicated when TP exceeds them); MLA's latent is not split by head.
	perGPU := e.KVBytesPerToken
	if !c.MLA() {
		headsPerGPU := (int64(c.KVHeads) + int64(opt.TP) - 1) / int64(opt.TP)
		perGPU = e.KVBytesPerToken / int64(c.KVHeads) * headsPerGPU
	}
	e.KVBytesPerTokenGPU = perGPU
	usable := int64(float64(opt.GPUMemory)*opt.Utilization) - opt.Reserved
	e.KVBytesPerGPU = max(usable-e.WeightBytesPerGPU, 0)
	blockBytes := perGPU * int64(opt.BlockSize)
	if blockBytes > 0 {
		e.KVBlocks = e.KVBytesPerGPU / blockBytes
	}
	e.KVTokens = e.KVBlocks * int64(opt.BlockSize)
	e.Fits = e.KVBlocks > 0
	if opt.ISL > 0 && opt.OSL > 0 {
		perSeq := int64((opt.ISL + opt.OSL + opt.BlockSize - 1) / opt.BlockSize)
		e.MaxBatch = e.KVBlocks / perSeq
		e.MaxKVTokens = e.MaxBatch * int64(opt.ISL+opt.OSL)
	}
	return e, nil
}

// withDefaults fills in the zero fields: 80 GiB, 90% of it, one GPU, blocks of 16 tokens.
func (opt Options) withDefaults() Options {
	if opt.GPUMemory == 0 {
		opt.GPUMemory = 80 << 30
	}
	if opt.Utilization == 0 {
		opt.Utilization = 0.9
	}
	if opt.TP == 0 {
		opt.TP = 1
	}
	if opt.BlockSize == 0 {
		opt.BlockSize = 16
	}
	return opt
}

// dtypes are the weights' and the KV cache's data types: those opt names, else the
// checkpoint's (its quantization's when that has a size), with the KV cache kept at the
// checkpoint's type when the weights are quantized below 2 bytes. A checkpoint type the
// estimate does not know is an error when one of them needs it ("" counts as bf16, the
// usual type of a checkpoint that does not say).
func (c Config) dtypes(opt Options) (dt, kvdt string, err error) {
	base := dtypeName(c.DType)
	if base == "" {
		base = "bf16"
	}
	_, known := BytesPerElement[base]
	used := false // whether dt or kvdt comes from the checkpoint's type
	dt = dtypeName(opt.DType)
	if dt == "" {
		dt, used = base, true
		if q := dtypeName(c.QuantMethod); BytesPerElement[q] > 0 {
			dt, used = q, false // e.g. DeepSeek-V3's fp8 checkpoint
		}
	}
	kvdt = dtypeName(opt.KVDType)
	if kvdt == "" {
		kvdt = dt
		if BytesPerElement[dt] < 2 && opt.DType == "" {
			kvdt, used = base, true
		}
	}
	if used && !known {
		if dt == base {
			dt = "" // said here, not again by check
		}
		if kvdt == base {
			kvdt = ""
		}
		return dt, kvdt, fmt.Errorf("estimate: the config's torch_dtype %q: %w (%s): give --dtype and --kv-dtype", c.DType, ErrUnknownDType, knownTypes)
	}
	return dt, kvdt, nil
}

// ErrUnknownDType is the error of an estimate that needs the config's torch_dtype where
// the estimate does not know it ("float128"): it is not taken as any other type.
var ErrUnknownDType = errors.New("not a data type the estimate knows")

// knownTypes lists the data types in messages.
const knownTypes = "fp32, bf16, fp16, fp8, int8, int4, fp4"

// check reports every problem with the options and the data types at once, each naming
// the flag of perfgate estimate that sets it.
func (opt Options) check(c Config, dt, kvdt string) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("estimate: "+format, args...)) }
	for _, d := range []struct{ flag, v string }{{"dtype", dt}, {"kv-dtype", kvdt}} {
		if _, ok := BytesPerElement[d.v]; !ok && d.v != "" {
			bad("%s %q is not one of %s", d.flag, d.v, knownTypes)
		}
	}
	switch {
	case opt.GPUMemory <= 0 || opt.GPUMemory > MaxMemory:
		bad("gpu-memory %d bytes: want more than 0 and at most 1 PiB", opt.GPUMemory)
	case opt.Reserved < 0 || opt.Reserved > MaxMemory:
		bad("reserved %d bytes: want 0 to 1 PiB", opt.Reserved)
	}
	if !(opt.Utilization > 0 && opt.Utilization <= 1) {
		bad("gpu-utilization %g: want a fraction in (0, 1]", opt.Utilization)
	}
	if opt.TP < 1 || c.Heads > 0 && (opt.TP > c.Heads || c.Heads%opt.TP != 0) {
		bad("tp %d: want a number of GPUs that divides num_attention_heads %d (engines split the attention heads evenly over the GPUs)", opt.TP, c.Heads)
	}
	if opt.BlockSize < 1 || opt.BlockSize > MaxBlockSize {
		bad("block-size %d: want 1 to %d tokens", opt.BlockSize, MaxBlockSize)
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"isl", opt.ISL}, {"osl", opt.OSL}} {
		if n.v < 0 || n.v > MaxTokens {
			bad("%s %d: want 0 to %d tokens", n.flag, n.v, int64(MaxTokens))
		}
	}
	if (opt.ISL > 0) != (opt.OSL > 0) {
		errs = append(errs, errors.New("estimate: give both ISL and OSL, or neither"))
	}
	return errors.Join(errs...)
}
