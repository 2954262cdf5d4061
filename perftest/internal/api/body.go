package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/perfgate/perfgate/fixtures"
)

// Builder builds the bodies of one case's requests to one API: the API's fields, then each
// layer of overrides in turn (see Layers), a layer's value replacing a field and a nil
// value removing it. It is safe for concurrent use.
type Builder struct {
	api    *API
	model  string
	layers Layers
	// rests holds, per output length, the encoded fields of a token-id request but its
	// prompt; nRests counts what was stored, up to maxRests.
	rests  sync.Map
	nRests atomic.Int64
}

// Layers are what a body holds beyond the API's own fields, in the order they are merged:
// the engine's fields, the request's reasoning (the API's effort field for an effort, then
// the engine's own spelling), then Case.Extra, which wins.
type Layers struct {
	// Engine holds the fields the target's engine needs in every body.
	Engine map[string]any
	// Reasoning returns the fields that ask the engine's server for reasoning at a level
	// ("off", "on", "low", "medium", "high"; fixtures.Request.Reasoning), merged over the
	// API's own spelling of an effort (a nil value removes it); nil adds nothing.
	Reasoning func(level string) map[string]any
	// Extra holds Case.Extra.
	Extra map[string]any
}

// NewBuilder returns the builder of requests to a for model, with layers over the API's
// fields.
func NewBuilder(a *API, model string, l Layers) *Builder {
	return &Builder{api: a, model: model, layers: l}
}

// Fields are the members of req's body, but a prompt of token ids, which Body splices in,
// or why the API cannot carry req.
func (b *Builder) Fields(req *fixtures.Request) (map[string]any, error) {
	f, err := b.api.fields(b.model, req)
	if err != nil {
		return nil, err
	}
	merge(f, b.layers.Engine)
	if level := req.Reasoning; level != "" {
		if b.api.effort != nil && level != "on" && level != "off" {
			merge(f, b.api.effort(level))
		}
		if b.layers.Reasoning != nil {
			merge(f, b.layers.Reasoning(level))
		}
	}
	merge(f, b.layers.Extra)
	return f, nil
}

// merge puts a layer's fields over f: a value replaces a field, nil removes it.
func merge(f, layer map[string]any) {
	for k, v := range layer {
		if v == nil {
			delete(f, k)
		} else {
			f[k] = v
		}
	}
}

// Names are the names of every member of req's body, sorted.
func (b *Builder) Names(req *fixtures.Request) ([]string, error) {
	f, err := b.Fields(req)
	if err != nil {
		return nil, err
	}
	if b.spliced(req) {
		f["prompt"] = nil
	}
	return slices.Sorted(maps.Keys(f)), nil
}

func (b *Builder) spliced(req *fixtures.Request) bool { return b.api.splice && len(req.Tokens) > 0 }

// Body builds req's body. Token-id prompts are written directly before the other fields,
// which depend only on the output length and are encoded once per length (the open-loop
// dispatcher builds every body: encoding/json's cost was a third of its CPU); other
// prompts go through encoding/json. It allocates once per request, never per token.
func (b *Builder) Body(req *fixtures.Request) ([]byte, error) {
	if !b.spliced(req) {
		f, err := b.Fields(req)
		if err != nil {
			return nil, err
		}
		body, err := json.Marshal(f)
		if err != nil {
			return nil, fmt.Errorf("encode request %d: %w", req.Index, err)
		}
		return body, nil
	}
	if err := completionRefuses(req); err != nil {
		return nil, err
	}
	rest, err := b.rest(req)
	if err != nil {
		return nil, err
	}
	// Splice "prompt":[ids...] into the object.
	buf := make([]byte, 0, len(rest)+len(req.Tokens)*6+16)
	buf = append(buf, `{"prompt":[`...)
	for i, t := range req.Tokens {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendInt(buf, int64(t), 10)
	}
	if len(rest) <= 2 { // {}: the overrides removed every other field
		return append(buf, "]}"...), nil
	}
	buf = append(buf, "],"...)
	return append(buf, rest[1:]...), nil
}

// maxRests bounds the encoded field sets a builder keeps, one per output length.
const maxRests = 1024

// rest is the encoded fields of a token-id request other than its prompt.
func (b *Builder) rest(req *fixtures.Request) ([]byte, error) {
	if r, ok := b.rests.Load(req.OutputTokens); ok {
		return r.([]byte), nil
	}
	f, err := b.Fields(&fixtures.Request{OutputTokens: req.OutputTokens, Tokens: req.Tokens})
	if err != nil {
		return nil, err
	}
	r, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode request %d: %w", req.Index, err)
	}
	if b.nRests.Add(1) <= maxRests {
		b.rests.Store(req.OutputTokens, r)
	}
	return r, nil
}
