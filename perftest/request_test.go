package perftest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/fixtures"
)

// dialectTarget is a target whose engine asks for fields of its own and refuses any field
// but the ones it lists, as engine modules' targets do.
type dialectTarget struct {
	fields map[string]map[string]any
	takes  []string
	asked  *[]string // the names CheckRequest was given
}

func (dialectTarget) BaseURL() string { return "http://x" }

func (d dialectTarget) RequestFields(api string) map[string]any { return d.fields[api] }

func (dialectTarget) ReasoningFields(string, string) map[string]any { return nil }

func (dialectTarget) APIPath(string) (string, error) { return "", nil }

func (d dialectTarget) CheckRequest(api string, fields []string) error {
	*d.asked = fields
	var errs []error
	for _, f := range fields {
		if !slices.Contains(d.takes, f) {
			errs = append(errs, fmt.Errorf("%s request field %q refused", api, f))
		}
	}
	return errors.Join(errs...)
}

func TestEngineFieldsBeforeExtra(t *testing.T) {
	var asked []string
	target := dialectTarget{fields: map[string]map[string]any{
		"chat":        {"min_tokens": nil, "chat_only": 1},
		"completions": {"min_tokens": nil, "top_k": 5, "cache_prompt": true},
	}, asked: &asked}
	cl := newClient("http://x", "m", Case{Target: target, Extra: map[string]any{"top_k": 1, "cache_prompt": nil}})
	b, err := cl.body(&fixtures.Request{Tokens: []int{5}, OutputTokens: 4})
	require.NoError(t, err)
	assert.JSONEq(t, `{"prompt":[5],"model":"m","max_tokens":4,"ignore_eos":true,"stream":true,`+
		`"stream_options":{"include_usage":true},"temperature":0,"top_k":1}`, string(b),
		"the engine's fields for completions over the defaults, then Case.Extra over them")
}

func TestValidateChecksTheFinalBody(t *testing.T) {
	var asked []string
	target := dialectTarget{fields: map[string]map[string]any{"chat": {"chat_only": 1}},
		takes: []string{"model", "messages", "max_tokens", "min_tokens", "ignore_eos", "stream", "stream_options", "temperature", "chat_only"},
		asked: &asked}
	c := Case{Target: target, API: Chat, Workload: small, Load: Concurrency(1), Extra: map[string]any{"temperature": nil, "top_kk": 2}}
	err := c.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `chat request field "top_kk" refused`)
	assert.Equal(t, []string{"chat_only", "ignore_eos", "max_tokens", "messages", "min_tokens", "model", "stream", "stream_options", "top_kk"}, asked,
		"the names of the body's fields after the engine's and Extra's: temperature removed, top_kk added")

	c.Extra = map[string]any{"temperature": nil}
	require.NoError(t, c.Validate())
	c.API = Completions
	require.Error(t, c.Validate(), "completions bodies hold prompt, which this target does not take")
	assert.Contains(t, asked, "prompt")
}
