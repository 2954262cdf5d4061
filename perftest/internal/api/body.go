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
// layer of overrides in turn (the engine's own fields, then Case.Extra), a layer's value
// replacing a field and a nil value removing it. It is safe for concurrent use.
type Builder struct {
	api   *API
	model string
	over  map[string]any // the layers merged, the last one winning
	// rests holds, per output length, the encoded fields of a token-id request but its
	// prompt; nRests counts what was stored, up to maxRests.
	rests  sync.Map
	nRests atomic.Int64
}

// NewBuilder returns the builder of requests to a for model, with the given layers of
// overrides, the last one winning.
func NewBuilder(a *API, model string, layers ...map[string]any) *Builder {
	over := map[string]any{}
	for _, l := range layers {
		maps.Copy(over, l)
	}
	return &Builder{api: a, model: model, over: over}
}

// Fields are the members of req's body, but a prompt of token ids, which Body splices in.
func (b *Builder) Fields(req *fixtures.Request) map[string]any {
	f := b.api.fields(b.model, req)
	for k, v := range b.over {
		if v == nil {
			delete(f, k)
		} else {
			f[k] = v
		}
	}
	return f
}

// Names are the names of every member of req's body, sorted.
func (b *Builder) Names(req *fixtures.Request) []string {
	f := b.Fields(req)
	if b.spliced(req) {
		f["prompt"] = nil
	}
	return slices.Sorted(maps.Keys(f))
}

func (b *Builder) spliced(req *fixtures.Request) bool { return b.api.splice && len(req.Tokens) > 0 }

// Body builds req's body. Token-id prompts are written directly before the other fields,
// which depend only on the output length and are encoded once per length (the open-loop
// dispatcher builds every body: encoding/json's cost was a third of its CPU); other
// prompts go through encoding/json. It allocates once per request, never per token.
func (b *Builder) Body(req *fixtures.Request) ([]byte, error) {
	if !b.spliced(req) {
		body, err := json.Marshal(b.Fields(req))
		if err != nil {
			return nil, fmt.Errorf("encode request %d: %w", req.Index, err)
		}
		return body, nil
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
	r, err := json.Marshal(b.Fields(&fixtures.Request{OutputTokens: req.OutputTokens, Tokens: req.Tokens}))
	if err != nil {
		return nil, fmt.Errorf("encode request %d: %w", req.Index, err)
	}
	if b.nRests.Add(1) <= maxRests {
		b.rests.Store(req.OutputTokens, r)
	}
	return r, nil
}
