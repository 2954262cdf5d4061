package capacity

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/readfile"
)

func read(t *testing.T, name string) Config {
	t.Helper()
	c, err := ReadConfig(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Figures checked by hand (see each case's arithmetic).
func TestEstimateHandChecked(t *testing.T) {
	for _, tc := range []struct {
		file             string
		opt              Options
		attn             string
		params, active   int64
		weights, kvToken int64
		blocks, batch    int64
	}{
		// Llama-3-8B, GQA: KV 2 x 32 layers x 8 heads x 128 x 2 bytes = 131,072. Parameters:
		// embeddings 2 x 128,256 x 4,096 = 1,050,673,152; per layer q 16,777,216 + k, v
		// 2 x 4,194,304 + o 16,777,216 + MLP 3 x 4,096 x 14,336 = 176,160,768 + norms 8,192
		// = 218,112,000, x 32 = 6,979,584,000; + final norm 4,096: 8,030,261,248. On 80 GiB
		// at 0.9: 77,309,411,328 - 16,060,522,496 of weights = 61,248,888,832 bytes of KV =
		// 29,205 blocks of 16 tokens (2,097,152 bytes each); ISL+OSL 2,048 = 128 blocks: 228.
		{"llama-3-8b.json", Options{ISL: 1024, OSL: 1024}, "GQA", 8_030_261_248, 8_030_261_248, 16_060_522_496, 131_072, 29_205, 228},
		// Llama-2-7B, MHA (no num_key_value_heads): KV 2 x 32 x 32 x 128 x 2 = 524,288.
		// Parameters 2 x 32,000 x 4,096 + 32 x (4 x 16,777,216 + 3 x 4,096 x 11,008 + 8,192)
		// + 4,096 = 6,738,415,616. fp16 weights 13,476,831,232; one 24 GiB GPU at 0.9:
		// 23,192,823,398 - 13,476,831,232 = 9,715,992,166 / 8,388,608 = 1,158 blocks.
		{"llama-2-7b.json", Options{GPUMemory: 24 << 30}, "MHA", 6_738_415_616, 6_738_415_616, 13_476_831_232, 524_288, 1_158, 0},
		// DeepSeek-V3, MLA + MoE: KV 61 x (512 + 64) x 2 = 70,272. Per layer attention:
		// q_a 7,168 x 1,536 + 1,536 + q_b 1,536 x 128 x 192 + kv_a 7,168 x 576 + 512 + kv_b
		// 512 x 128 x 256 + o 128 x 128 x 7,168 = 187,107,328; 3 dense layers of MLP
		// 3 x 7,168 x 18,432 = 396,361,728; 58 MoE layers of (256 + 1 shared) experts of
		// 3 x 7,168 x 2,048 + router 256 x 7,168 + 256 = 11,320,164,608; norms 14,336 per
		// layer; embeddings 2 x 129,280 x 7,168: 671,026,419,200 parameters, fp8 (its
		// quantization_config). Active: 8 routed experts of 256: 37,552,297,472. 8 GPUs of
		// 141 GB at 0.9: 126,900,000,000 - 83,878,302,400 weights each = 43,021,697,600 /
		// (70,272 x 16) = 38,263 blocks (MLA's latent is whole on every GPU).
		{"deepseek-v3.json", Options{GPUMemory: 141e9, TP: 8}, "MLA", 671_026_419_200, 37_552_297_472, 671_026_419_200, 70_272, 38_263, 0},
		// Mixtral-8x7B, MoE + GQA: per layer attention 41,943,040 + 8 experts of
		// 3 x 4,096 x 14,336 = 1,409,286,144 + router 32,768 + norms 8,192; x 32 +
		// embeddings 262,144,000 + 4,096 = 46,702,792,704 (12,879,925,248 active, 2 experts).
		// bf16 on 2 x 80 GiB: 77,309,411,328 - 46,702,792,704 = 30,606,618,624 / (8 heads
		// split over 2 GPUs: 65,536 x 16 bytes a block) = 29,188 blocks; ISL 4,096 + OSL 512
		// = 288 blocks: 101.
		{"mixtral-8x7b.json", Options{TP: 2, ISL: 4096, OSL: 512}, "GQA", 46_702_792_704, 12_879_925_248, 93_405_585_408, 131_072, 29_188, 101},
	} {
		t.Run(tc.file, func(t *testing.T) {
			e, err := read(t, tc.file).Estimate(tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if e.Attention != tc.attn || e.Parameters != tc.params || e.ActiveParameters != tc.active || e.WeightBytes != tc.weights ||
				e.KVBytesPerToken != tc.kvToken || e.KVBlocks != tc.blocks || e.MaxBatch != tc.batch || e.KVTokens != 16*tc.blocks || !e.Fits {
				t.Errorf("got %+v", e)
			}
			if tc.batch > 0 && e.MaxKVTokens != tc.batch*int64(tc.opt.ISL+tc.opt.OSL) {
				t.Errorf("max_kv_tokens %d", e.MaxKVTokens)
			}
		})
	}
}

// The figure: a Llama-3-8B-shaped config in bf16 needs 131,072 bytes of KV per
// token, whatever the weights' type; an fp8 KV cache halves it.
func TestLlama3KVPerToken(t *testing.T) {
	c := read(t, "llama-3-8b.json")
	for _, tc := range []struct {
		opt  Options
		want int64
	}{{Options{}, 131072}, {Options{DType: "fp8"}, 65536}, {Options{KVDType: "bf16", DType: "int4"}, 131072}, {Options{KVDType: "fp8"}, 65536}} {
		e, err := c.Estimate(tc.opt)
		if err != nil || e.KVBytesPerToken != tc.want {
			t.Errorf("%+v: %d bytes per token, %v; want %d", tc.opt, e.KVBytesPerToken, err, tc.want)
		}
	}
	// DeepSeek-V3's fp8 weights keep a bf16 cache unless told otherwise.
	if e, _ := read(t, "deepseek-v3.json").Estimate(Options{}); e.DType != "fp8" || e.KVDType != "bf16" {
		t.Errorf("DeepSeek-V3 dtypes %s / %s", e.DType, e.KVDType)
	}
	// Weights that do not fit leave no KV cache.
	if e, _ := read(t, "deepseek-v3.json").Estimate(Options{}); e.Fits || e.KVBlocks != 0 {
		t.Errorf("671B parameters fit on one GPU: %+v", e)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		json   string
		fields []string
	}{
		{`{}`, []string{"num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size", "intermediate_size"}},
		{`{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 8, "num_key_value_heads": 3, "vocab_size": 10, "intermediate_size": 8}`, []string{"num_key_value_heads"}},
		{`{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 8, "num_key_value_heads": 16, "vocab_size": 10, "intermediate_size": 8}`, []string{"num_key_value_heads"}},
		{`{"num_hidden_layers": 2, "hidden_size": 60, "num_attention_heads": 8, "vocab_size": 10, "intermediate_size": 8}`, []string{"head_dim"}},
		{`{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 8, "vocab_size": 10, "intermediate_size": 8, "kv_lora_rank": 16}`, []string{"qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"}},
		{`{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 8, "vocab_size": 10, "intermediate_size": 8, "qk_rope_head_dim": 16}`, []string{"kv_lora_rank"}},
		{`{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 8, "vocab_size": 10, "num_local_experts": 4, "n_routed_experts": 8, "num_experts_per_tok": 9}`, []string{"n_routed_experts", "num_experts_per_tok", "moe_intermediate_size"}},
		{`{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 8, "vocab_size": 10, "intermediate_size": 8, "num_experts_per_tok": 2}`, []string{"num_experts_per_tok"}},
		{`{"num_hidden_layers": -2, "hidden_size": 64, "num_attention_heads": 8, "vocab_size": 10, "intermediate_size": 8}`, []string{"num_hidden_layers"}},
	} {
		_, err := ParseConfig([]byte(tc.json))
		if err == nil {
			t.Errorf("%s: no error", tc.json)
			continue
		}
		for _, f := range tc.fields {
			if !strings.Contains(err.Error(), `field "`+f+`"`) {
				t.Errorf("%s: error %q does not name %s", tc.json, err, f)
			}
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%s: not a *FieldError: %T", tc.json, err)
		}
	}
	if _, err := ReadConfig("testdata/missing.json"); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ParseConfig([]byte(`{"num_hidden_layers": "many"}`)); err == nil {
		t.Error("bad JSON accepted")
	}
	c := read(t, "llama-3-8b.json")
	for _, opt := range []Options{{DType: "fp7"}, {ISL: 10}, {Utilization: 2}, {TP: -1}} {
		if _, err := c.Estimate(opt); err == nil {
			t.Errorf("%+v accepted", opt)
		}
	}
}

// A multimodal config keeps its language model under text_config.
func TestTextConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"architectures": ["LlavaForConditionalGeneration"], "torch_dtype": "bfloat16", "text_config":
		{"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "intermediate_size": 14336}}`))
	if err != nil || c.Layers != 32 || c.KVElementsPerToken() != 65536 || c.DType != "bfloat16" || c.Architecture != "LlavaForConditionalGeneration" {
		t.Errorf("%+v, %v", c, err)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"80GiB": 80 << 30, "141GB": 141e9, "24G": 24 << 30, "8e10": 8e10, "512 MiB": 512 << 20, "1.5TiB": 3 << 39} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "80 parsecs", "-1G", "0"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, name := range []string{"llama-3-8b.json", "llama-2-7b.json", "deepseek-v3.json", "mixtral-8x7b.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 8, "vocab_size": 10, "intermediate_size": 8}`))
	f.Add([]byte(`{"text_config": {"num_hidden_layers": 1}}`))
	f.Add([]byte(`{"kv_lora_rank": 512, "n_routed_experts": 8, "num_local_experts": 8}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		// A config that parses has positive sizes and a non-negative estimate.
		e, err := c.Estimate(Options{ISL: 100, OSL: 10})
		if errors.Is(err, ErrUnknownDType) {
			return // said, not guessed
		}
		if err != nil {
			t.Fatalf("estimate of a parsed config: %v", err)
		}
		if e.KVBytesPerToken <= 0 || e.KVBlocks < 0 || e.MaxBatch < 0 {
			t.Fatalf("estimate %+v", e)
		}
	})
}

// Issue 23: inputs that overflowed, panicked or were taken as something else are refused,
// each naming what to fix.
func TestEstimateBadInput(t *testing.T) {
	c := read(t, "llama-3-8b.json")
	for _, tc := range []struct {
		name string
		opt  Options
		want []string
	}{
		// ISL + OSL + block size overflowed int: a division by zero panicked.
		{"isl-osl-maxint", Options{ISL: math.MaxInt64, OSL: math.MaxInt64}, []string{"isl 9223372036854775807: want 0 to 1099511627776 tokens", "osl 9223372036854775807"}},
		{"isl-just-over", Options{ISL: MaxTokens + 1, OSL: 1}, []string{"isl 1099511627777"}},
		// A billion GPUs gave "17 bytes/GPU" of weights.
		{"tp-absurd", Options{TP: 1_000_000_000}, []string{"tp 1000000000: want a number of GPUs that divides num_attention_heads 32"}},
		{"tp-not-dividing", Options{TP: 3}, []string{"tp 3"}},
		{"block-size", Options{BlockSize: math.MaxInt64}, []string{"block-size 9223372036854775807: want 1 to 1048576 tokens"}},
		{"gpu-memory", Options{GPUMemory: MaxMemory + 1}, []string{"gpu-memory 1125899906842625 bytes: want more than 0 and at most 1 PiB"}},
		{"utilization-nan", Options{Utilization: math.NaN()}, []string{"gpu-utilization NaN"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Estimate(tc.opt)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	// Whole numbers at the limits still estimate.
	e, err := c.Estimate(Options{ISL: MaxTokens, OSL: MaxTokens, TP: 32, GPUMemory: MaxMemory})
	require.NoError(t, err)
	assert.Zero(t, e.MaxBatch, "no request of 2^41 tokens fits")
}

// Issue 23: "float128" was taken as bf16 and num_key_value_heads 0 as multi-head attention.
func TestEstimateUnknownOrZeroFields(t *testing.T) {
	base := `"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 8, "vocab_size": 10, "intermediate_size": 8`
	c, err := ParseConfig([]byte(`{` + base + `, "torch_dtype": "float128"}`))
	require.NoError(t, err, "the config is fine; its type matters only where no flag names one")
	_, err = c.Estimate(Options{})
	require.ErrorIs(t, err, ErrUnknownDType)
	assert.Contains(t, err.Error(), `torch_dtype "float128": not a data type the estimate knows`)
	assert.Contains(t, err.Error(), "give --dtype and --kv-dtype")
	assert.NotContains(t, err.Error(), `dtype "float128" is not one of`, "said once")
	e, err := c.Estimate(Options{DType: "bf16", KVDType: "fp8"})
	require.NoError(t, err, "both types given: the config's does not matter")
	assert.Equal(t, "fp8", e.KVDType)
	e, err = c.Estimate(Options{DType: "fp8", KVDType: "bf16"})
	require.NoError(t, err)
	assert.Equal(t, "fp8", e.DType)

	_, err = ParseConfig([]byte(`{` + base + `, "num_key_value_heads": 0}`))
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Contains(t, err.Error(), `field "num_key_value_heads": is 0: a model has at least one KV head`)
	c, err = ParseConfig([]byte(`{` + base + `, "num_key_value_heads": null}`))
	require.NoError(t, err, "null is absent: multi-head attention")
	assert.Equal(t, 8, c.KVHeads)
}

// Issue 23: a huge --gpu-memory overflowed to a negative size ("need GPU memory > 0").
func TestParseBytesLimit(t *testing.T) {
	for _, in := range []string{"1e30GiB", "9223372036854775807", "2PiB", "1025TiB"} {
		_, err := ParseBytes(in)
		if in == "2PiB" {
			assert.ErrorContains(t, err, "unknown unit")
			continue
		}
		assert.ErrorContains(t, err, "over the limit of 1 PiB", in)
	}
	n, err := ParseBytes("1024TiB")
	require.NoError(t, err)
	assert.Equal(t, int64(MaxMemory), n)
}

// Issue 23: --config /dev/zero grew without limit (2.7 GB).
func TestReadConfigBounded(t *testing.T) {
	big := filepath.Join(t.TempDir(), "config.json")
	require.NoError(t, os.WriteFile(big, make([]byte, MaxConfigBytes+1), 0o644))
	_, err := ReadConfig(big)
	assert.ErrorIs(t, err, readfile.ErrTooLarge)
	assert.ErrorContains(t, err, "config.json: over the size limit of 4 MiB")
	if _, err := os.Stat("/dev/zero"); err == nil {
		_, err := ReadConfig("/dev/zero")
		assert.ErrorContains(t, err, "/dev/zero: over the size limit of 4 MiB")
	}
}
