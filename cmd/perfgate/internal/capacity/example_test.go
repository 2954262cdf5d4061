package capacity_test

import (
	"fmt"

	"github.com/perfgate/perfgate/cmd/perfgate/internal/capacity"
)

// A Llama-3-8B-shaped model on one 80 GiB GPU: 131,072 bytes of KV per token in bf16, and
// room for 228 requests of 1,024 prompt and 1,024 output tokens.
func Example() {
	c, err := capacity.ParseConfig([]byte(`{"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
		"num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256, "torch_dtype": "bfloat16"}`))
	if err != nil {
		panic(err)
	}
	e, err := c.Estimate(capacity.Options{GPUMemory: 80 << 30, ISL: 1024, OSL: 1024})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s, %.2fB parameters, %d weight bytes\n", e.Attention, float64(e.Parameters)/1e9, e.WeightBytes)
	fmt.Printf("KV: %d bytes per token, %d tokens fit\n", e.KVBytesPerToken, e.KVTokens)
	fmt.Printf("largest batch %d (max_kv_tokens %d)\n", e.MaxBatch, e.MaxKVTokens)
	// Output:
	// GQA, 8.03B parameters, 16060522496 weight bytes
	// KV: 131072 bytes per token, 467280 tokens fit
	// largest batch 228 (max_kv_tokens 466944)
}
