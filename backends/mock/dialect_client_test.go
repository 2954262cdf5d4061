package mock

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// What the simulator tells a client, as the vllm module does: continuous usage with
// speculative decoding, thinking through chat_template_kwargs, and which routes its runner
// serves.
func TestClientDialect(t *testing.T) {
	plain, err := New(Config{})
	assert.NoError(t, err)
	defer plain.Close()
	spec, err := New(Config{Speculative: Speculative{NumSpeculativeTokens: 2}})
	assert.NoError(t, err)
	defer spec.Close()
	pool, err := NewCluster(ClusterConfig{Workers: 2, Worker: Config{Runner: RunnerPooling}})
	assert.NoError(t, err)
	defer pool.Close()

	assert.Nil(t, plain.RequestFields("chat"), "no feature, nothing asked: the wire stays as it was")
	assert.Equal(t, map[string]any{"stream_options": map[string]any{"include_usage": true, "continuous_usage_stats": true}}, spec.RequestFields("completions"))
	assert.Nil(t, spec.RequestFields("embeddings"))
	assert.Equal(t, map[string]any{"chat_template_kwargs": map[string]any{"enable_thinking": false, "thinking": false}}, plain.ReasoningFields("chat", "off"))
	assert.Equal(t, map[string]any{"chat_template_kwargs": map[string]any{"enable_thinking": true, "thinking": true}}, pool.ReasoningFields("chat", "high"))
	assert.Nil(t, plain.ReasoningFields("responses", "off"))
	for _, api := range []string{"completions", "chat", "responses"} {
		p, err := plain.APIPath(api)
		assert.NoError(t, err)
		assert.Empty(t, p)
		_, err = pool.APIPath(api)
		assert.ErrorContains(t, err, "pooling model")
	}
	_, err = plain.APIPath("rerank")
	assert.ErrorContains(t, err, "RunnerPooling")
	_, err = pool.APIPath("embeddings")
	assert.NoError(t, err)
}
