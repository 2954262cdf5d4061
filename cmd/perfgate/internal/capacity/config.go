// Package capacity estimates how much of a model fits on a GPU: the bytes of its weights,
// the bytes of KV cache each token needs, how many tokens of KV cache the memory left over
// holds, and so the largest batch of requests of a given prompt and output length, as
// NVIDIA Dynamo's estimate_perf.py does over AIConfigurator (max_kv_tokens = max_batch x
// (ISL + OSL)).
//
// The model comes from its Hugging Face config.json ([ParseConfig], [ReadConfig]): layers,
// hidden size, attention heads, KV heads (grouped-query attention when fewer than the
// heads, multi-head when equal or absent), head_dim, DeepSeek's multi-head latent attention
// when the config has kv_lora_rank, tied embeddings, and mixture-of-experts expert counts
// and sizes (Mixtral's num_local_experts, Qwen's num_experts, DeepSeek's n_routed_experts,
// n_shared_experts and first_k_dense_replace). A multimodal config's text_config is read
// when the top level has no layers. Bad configs get one error per missing or contradictory
// field, each naming it ([FieldError]).
//
// KV bytes per token are, for standard attention, 2 (K and V) x layers x KV heads x
// head_dim x bytes per element, and for multi-head latent attention layers x
// (kv_lora_rank + qk_rope_head_dim) x bytes: the compressed latent and the shared rotary
// key are what an engine caches. A Llama-3-8B-shaped config (32 layers, 8 KV heads, head
// dim 128) needs 131,072 bytes per token in bf16; DeepSeek-V3 70,272.
//
// Weights count the embeddings (twice unless tied), each layer's attention projections,
// its MLP (gated: gate, up and down projections) or its experts, router and shared
// experts, and the norms; DeepSeek-V3's count is 671.0B parameters (37.6B active per
// token). Biases and multi-token-prediction layers are left out.
package capacity

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/perfgate/perfgate/internal/readfile"
)

// Config is what the estimate reads of a Hugging Face config.json. Zero means absent;
// [ParseConfig] fills in the defaults the transformers library applies.
type Config struct {
	ModelType         string `json:"model_type"`
	Architecture      string `json:"-"`
	Layers            int    `json:"num_hidden_layers"`
	Hidden            int    `json:"hidden_size"`
	Heads             int    `json:"num_attention_heads"`
	KVHeads           int    `json:"num_key_value_heads"`
	HeadDim           int    `json:"head_dim"`
	Intermediate      int    `json:"intermediate_size"`
	Vocab             int    `json:"vocab_size"`
	TieEmbeddings     bool   `json:"tie_word_embeddings"`
	DType             string `json:"torch_dtype"`
	QuantMethod       string `json:"-"`
	MaxPositionEmbeds int    `json:"max_position_embeddings"`

	// Multi-head latent attention (DeepSeek-V2/V3).
	KVLoraRank    int `json:"kv_lora_rank"`
	QLoraRank     int `json:"q_lora_rank"`
	QKRopeHeadDim int `json:"qk_rope_head_dim"`
	QKNopeHeadDim int `json:"qk_nope_head_dim"`
	VHeadDim      int `json:"v_head_dim"`

	// Mixture of experts.
	Experts            int `json:"-"` // routed experts per MoE layer
	ExpertsPerToken    int `json:"num_experts_per_tok"`
	SharedExperts      int `json:"n_shared_experts"`
	MoEIntermediate    int `json:"moe_intermediate_size"`
	SharedIntermediate int `json:"shared_expert_intermediate_size"`
	FirstDenseLayers   int `json:"first_k_dense_replace"`
}

// MLA reports whether the config uses multi-head latent attention.
func (c Config) MLA() bool { return c.KVLoraRank > 0 }

// MoE reports whether the config has routed experts.
func (c Config) MoE() bool { return c.Experts > 0 }

// FieldError is a problem with one field of a config file.
type FieldError struct {
	File  string // the file, "" when parsed from bytes
	Field string // the JSON field
	Msg   string
}

func (e *FieldError) Error() string {
	prefix := "config"
	if e.File != "" {
		prefix = e.File
	}
	return fmt.Sprintf("%s: field %q: %s", prefix, e.Field, e.Msg)
}

// wire is config.json as decoded: pointers where absence matters, the aliases of the
// expert counts, and a multimodal model's nested text config.
type wire struct {
	Config
	DTypeNew      string          `json:"dtype"`
	Architectures []string        `json:"architectures"`
	TieRaw        *bool           `json:"tie_word_embeddings"`
	KVHeadsRaw    *int            `json:"num_key_value_heads"`
	QLoraRaw      *int            `json:"q_lora_rank"`
	LocalExperts  int             `json:"num_local_experts"`
	NumExperts    int             `json:"num_experts"`
	RoutedExperts int             `json:"n_routed_experts"`
	TextConfig    json.RawMessage `json:"text_config"`
	Quant         *struct {
		Method string `json:"quant_method"`
	} `json:"quantization_config"`
}

// MaxConfigBytes bounds a config.json: a real one is a few KB (DeepSeek-V3's is 1.7 KB);
// more is not a model config (a log, /dev/zero).
const MaxConfigBytes = 4 << 20

// ReadConfig reads and checks a config.json file of at most MaxConfigBytes.
func ReadConfig(path string) (Config, error) {
	data, err := readfile.Read(path, MaxConfigBytes)
	if err != nil {
		return Config{}, fmt.Errorf("read model config: %w", err)
	}
	c, err := parseConfig(data, path)
	if err != nil {
		return Config{}, fmt.Errorf("read model config: %w", err)
	}
	return c, nil
}

// ParseConfig decodes and checks a config.json. Every missing or contradictory field is
// reported at once, each as a *FieldError joined into the error.
func ParseConfig(data []byte) (Config, error) { return parseConfig(data, "") }

func parseConfig(data []byte, file string) (Config, error) {
	w, err := decodeWire(data, file)
	if err != nil {
		return Config{}, err
	}
	c := w.config()
	p := &problems{file: file}
	if w.KVHeadsRaw != nil && *w.KVHeadsRaw == 0 {
		p.bad("num_key_value_heads", "is 0: a model has at least one KV head (leave the field out for multi-head attention)")
	}
	p.expertCounts(&c, w)
	p.sizes(c)
	p.attention(&c)
	p.latentAttention(c)
	p.experts(c)
	if c.MoE() && c.MoEIntermediate == 0 {
		c.MoEIntermediate = c.Intermediate // Mixtral names an expert's size intermediate_size
	}
	if len(p.errs) == 0 {
		if t, _ := c.params(); t >= maxExact || c.kvElements()*64 >= maxExact {
			p.bad("num_hidden_layers", "with these sizes the model has %.3g parameters: not a model this estimate can count", t)
		}
	}
	if err := errors.Join(p.errs...); err != nil {
		return Config{}, err
	}
	c.DType = strings.ToLower(c.DType)
	return c, nil
}

// decodeWire decodes config.json, and a multimodal model's text_config in its place when
// the top level has no layers.
func decodeWire(data []byte, file string) (wire, error) {
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		name := "config"
		if file != "" {
			name = file
		}
		return wire{}, fmt.Errorf("%s: %w", name, err)
	}
	if w.Layers == 0 && len(w.TextConfig) > 0 && string(w.TextConfig) != "null" {
		var t wire
		if err := json.Unmarshal(w.TextConfig, &t); err != nil {
			return wire{}, &FieldError{file, "text_config", err.Error()}
		}
		t.Architectures = w.Architectures
		if t.DType == "" && t.DTypeNew == "" {
			t.DType, t.DTypeNew = w.DType, w.DTypeNew
		}
		if t.TieRaw == nil {
			t.TieRaw = w.TieRaw
		}
		w = t
	}
	return w, nil
}

// config is the Config of a decoded config.json, with the fields that go by other names or
// need their absence told apart filled in.
func (w wire) config() Config {
	c := w.Config
	if len(w.Architectures) > 0 {
		c.Architecture = w.Architectures[0]
	}
	if c.DType == "" {
		c.DType = w.DTypeNew
	}
	if w.Quant != nil {
		c.QuantMethod = w.Quant.Method
	}
	if w.TieRaw != nil {
		c.TieEmbeddings = *w.TieRaw
	}
	if w.QLoraRaw != nil {
		c.QLoraRank = *w.QLoraRaw
	}
	if w.KVHeadsRaw != nil {
		c.KVHeads = *w.KVHeadsRaw
	}
	return c
}

// problems collects a config's field errors, in the order the checks find them.
type problems struct {
	file string
	errs []error
}

func (p *problems) bad(field, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{p.file, field, fmt.Sprintf(format, args...)})
}

// namedInt is one integer field of a config, by its JSON name.
type namedInt struct {
	name string
	v    int
}

// expertCounts sets c.Experts from the three names expert counts go by; two that disagree
// are a contradiction.
func (p *problems) expertCounts(c *Config, w wire) {
	for _, e := range []namedInt{{"num_local_experts", w.LocalExperts}, {"num_experts", w.NumExperts}, {"n_routed_experts", w.RoutedExperts}} {
		switch {
		case e.v < 0:
			p.bad(e.name, "must be >= 0, got %d", e.v)
		case e.v > 0 && c.Experts > 0 && e.v != c.Experts:
			p.bad(e.name, "is %d, but another expert count says %d", e.v, c.Experts)
		case e.v > 0:
			c.Experts = e.v
		}
	}
}

// sizes checks that the sizes every model needs are there and no size is negative.
func (p *problems) sizes(c Config) {
	for _, f := range []namedInt{{"num_hidden_layers", c.Layers}, {"hidden_size", c.Hidden}, {"num_attention_heads", c.Heads}, {"vocab_size", c.Vocab}} {
		if f.v <= 0 {
			if f.v == 0 {
				p.bad(f.name, "missing (needed for the weights and the KV cache)")
			} else {
				p.bad(f.name, "must be > 0, got %d", f.v)
			}
		}
	}
	for _, f := range []namedInt{{"num_key_value_heads", c.KVHeads}, {"head_dim", c.HeadDim}, {"intermediate_size", c.Intermediate}, {"kv_lora_rank", c.KVLoraRank},
		{"q_lora_rank", c.QLoraRank}, {"qk_rope_head_dim", c.QKRopeHeadDim}, {"qk_nope_head_dim", c.QKNopeHeadDim}, {"v_head_dim", c.VHeadDim},
		{"num_experts_per_tok", c.ExpertsPerToken}, {"n_shared_experts", c.SharedExperts}, {"moe_intermediate_size", c.MoEIntermediate},
		{"shared_expert_intermediate_size", c.SharedIntermediate}, {"first_k_dense_replace", c.FirstDenseLayers}} {
		if f.v < 0 {
			p.bad(f.name, "must be >= 0, got %d", f.v)
		}
	}
}

// attention fills in the KV heads (multi-head attention when absent) and head_dim, and
// checks that the KV heads group the query heads.
func (p *problems) attention(c *Config) {
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads // no num_key_value_heads: multi-head attention
	}
	if c.Heads > 0 && c.KVHeads > 0 {
		if c.KVHeads > c.Heads {
			p.bad("num_key_value_heads", "%d is more than num_attention_heads %d", c.KVHeads, c.Heads)
		} else if c.Heads%c.KVHeads != 0 {
			p.bad("num_key_value_heads", "%d does not divide num_attention_heads %d (grouped-query attention shares each KV head among a whole number of query heads)", c.KVHeads, c.Heads)
		}
	}
	if c.HeadDim == 0 && c.Heads > 0 && c.Hidden > 0 {
		if c.Hidden%c.Heads != 0 && !c.MLA() {
			p.bad("head_dim", "missing, and hidden_size %d is not a multiple of num_attention_heads %d", c.Hidden, c.Heads)
		}
		c.HeadDim = c.Hidden / c.Heads
	}
}

// latentAttention checks that multi-head latent attention is described whole or not at all.
func (p *problems) latentAttention(c Config) {
	if c.MLA() {
		for _, f := range []namedInt{{"qk_rope_head_dim", c.QKRopeHeadDim}, {"qk_nope_head_dim", c.QKNopeHeadDim}, {"v_head_dim", c.VHeadDim}} {
			if f.v == 0 {
				p.bad(f.name, "missing, but kv_lora_rank says the model uses multi-head latent attention")
			}
		}
	} else if c.QKRopeHeadDim > 0 || c.QLoraRank > 0 {
		p.bad("kv_lora_rank", "missing, but qk_rope_head_dim or q_lora_rank say the model uses multi-head latent attention")
	}
}

// experts checks an MoE config's expert sizes, and that a dense config names none.
func (p *problems) experts(c Config) {
	if !c.MoE() {
		if c.Intermediate == 0 {
			p.bad("intermediate_size", "missing (the MLP's size; an MoE config names its experts instead)")
		}
		for _, f := range []namedInt{{"num_experts_per_tok", c.ExpertsPerToken}, {"n_shared_experts", c.SharedExperts}, {"moe_intermediate_size", c.MoEIntermediate}} {
			if f.v > 0 {
				p.bad(f.name, "is set, but no expert count (num_local_experts, num_experts or n_routed_experts) is")
			}
		}
		return
	}
	if c.MoEIntermediate == 0 && c.Intermediate == 0 {
		p.bad("moe_intermediate_size", "missing: the size of an expert (intermediate_size is missing too)")
	}
	if c.ExpertsPerToken > c.Experts {
		p.bad("num_experts_per_tok", "%d is more than the %d experts", c.ExpertsPerToken, c.Experts)
	}
	if c.FirstDenseLayers > c.Layers && c.Layers > 0 {
		p.bad("first_k_dense_replace", "%d is more than num_hidden_layers %d", c.FirstDenseLayers, c.Layers)
	}
	if c.FirstDenseLayers > 0 && c.Intermediate == 0 {
		p.bad("intermediate_size", "missing: first_k_dense_replace says %d layers are dense", c.FirstDenseLayers)
	}
}
