package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/perfgate/perfgate/cmd/perfgate/internal/capacity"
)

func init() {
	register(command{
		name:    "estimate",
		summary: "capacity estimate from a Hugging Face config.json: weight bytes, KV bytes per token, KV tokens that fit, largest batch",
		run:     runEstimate,
	})
}

const estimateUsage = `Usage: perfgate estimate --config config.json [--gpu-memory 80GiB] [--dtype bf16] [--kv-dtype fp8]
       [--tp N] [--gpu-utilization 0.9] [--isl N --osl N] [--format text|json]

Reads a model's Hugging Face config.json and prints the bytes of its weights, the bytes of
KV cache one token needs (grouped-query, multi-head or DeepSeek's latent attention), how
many tokens of KV cache fit in the GPU memory the weights leave, and with --isl and --osl
the largest batch of such requests (max_kv_tokens = max_batch x (ISL + OSL)). With --tp
the weights and KV heads are split over N GPUs of --gpu-memory each.

Exit status 2 on a bad config, naming the missing or contradictory fields.

Flags:
`

func runEstimate(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("estimate", estimateUsage, stderr)
	path := fs.String("config", "", "the model's config.json (required)")
	mem := fs.String("gpu-memory", "80GiB", "memory of one GPU (80GiB, 141GB, ...)")
	util := fs.Float64("gpu-utilization", 0.9, "fraction of GPU memory the engine uses (vLLM's --gpu-memory-utilization)")
	reserved := fs.String("reserved", "0", "memory per GPU kept for activations and the runtime, before the KV cache")
	dtype := fs.String("dtype", "", "weights' data type: bf16, fp16, fp8, int8, int4, fp32 (default: the config's)")
	kvdtype := fs.String("kv-dtype", "", "KV cache data type (default: the weights', or the config's torch_dtype for quantized weights)")
	tp := fs.Int("tp", 1, "tensor-parallel GPUs")
	block := fs.Int("block-size", 16, "KV block size in tokens")
	isl := fs.Int("isl", 0, "prompt length of the requests to size a batch for")
	osl := fs.Int("osl", 0, "output length of the requests to size a batch for")
	format := fs.String("format", "text", "text or json")
	pos, code, done := parseArgs(fs, args, stdout)
	if done {
		return code, nil
	}
	if len(pos) == 1 && *path == "" {
		*path = pos[0]
	} else if len(pos) > 0 {
		return 2, fmt.Errorf("unexpected arguments %q", pos)
	}
	if *path == "" {
		fs.Usage()
		return 2, errors.New("--config is required")
	}
	if *format != "text" && *format != "json" {
		return 2, fmt.Errorf("--format %q: want text or json", *format)
	}
	gpu, err := capacity.ParseBytes(*mem)
	if err != nil {
		return 2, fmt.Errorf("--gpu-memory: %w", err)
	}
	var res int64
	if *reserved != "0" {
		if res, err = capacity.ParseBytes(*reserved); err != nil {
			return 2, fmt.Errorf("--reserved: %w", err)
		}
	}
	c, err := capacity.ReadConfig(*path)
	if err != nil {
		return 2, err
	}
	e, err := c.Estimate(capacity.Options{GPUMemory: gpu, Utilization: *util, Reserved: res, TP: *tp, DType: *dtype, KVDType: *kvdtype,
		BlockSize: *block, ISL: *isl, OSL: *osl})
	if err != nil {
		return 2, err
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return 0, enc.Encode(e)
	}
	printEstimate(stdout, c, e)
	return 0, nil
}

// gib formats bytes in GiB with the exact count.
func gib(b int64) string { return fmt.Sprintf("%.2f GiB (%d bytes)", float64(b)/(1<<30), b) }

func printEstimate(w io.Writer, c capacity.Config, e capacity.Estimate) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	shape := fmt.Sprintf("%d layers, hidden %d, %d heads", c.Layers, c.Hidden, c.Heads)
	switch e.Attention {
	case "MLA":
		shape += fmt.Sprintf(", latent attention (kv_lora_rank %d + rope %d)", c.KVLoraRank, c.QKRopeHeadDim)
	default:
		shape += fmt.Sprintf(", %d KV heads (%s), head dim %d", c.KVHeads, e.Attention, c.HeadDim)
	}
	if c.MoE() {
		shape += fmt.Sprintf(", %d experts (%d per token", c.Experts, c.ExpertsPerToken)
		if c.SharedExperts > 0 {
			shape += fmt.Sprintf(", %d shared", c.SharedExperts)
		}
		shape += ")"
	}
	fmt.Fprintf(tw, "model\t%s: %s\n", e.Model, shape)
	params := fmt.Sprintf("%.2fB", float64(e.Parameters)/1e9)
	if e.ActiveParameters != e.Parameters {
		params += fmt.Sprintf(" (%.2fB active per token)", float64(e.ActiveParameters)/1e9)
	}
	fmt.Fprintf(tw, "parameters\t%s\n", params)
	fmt.Fprintf(tw, "weights\t%s in %s; %s per GPU over tp %d\n", gib(e.WeightBytes), e.DType, gib(e.WeightBytesPerGPU), e.TP)
	fmt.Fprintf(tw, "KV per token\t%d bytes in %s (%d per GPU)\n", e.KVBytesPerToken, e.KVDType, e.KVBytesPerTokenGPU)
	fmt.Fprintf(tw, "GPU memory\t%s x %g utilization, %s left for KV per GPU\n", gib(e.GPUMemory), e.Utilization, gib(e.KVBytesPerGPU))
	if !e.Fits {
		fmt.Fprintf(tw, "KV tokens\t0: the weights leave no room for one block of %d tokens; add GPUs (--tp) or quantize (--dtype)\n", e.BlockSize)
	} else {
		fmt.Fprintf(tw, "KV tokens\t%d (%d blocks of %d)\n", e.KVTokens, e.KVBlocks, e.BlockSize)
	}
	if e.ISL > 0 {
		fmt.Fprintf(tw, "largest batch\t%d requests of %d + %d tokens (max_kv_tokens %d)\n", e.MaxBatch, e.ISL, e.OSL, e.MaxKVTokens)
	}
	tw.Flush()
}
