package llamacpp

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeLlama answers /slots, /slots/{id}?action=erase and /v1/models the way llama-server
// (82bb485) does, as captured on the wire.
func fakeLlama(t *testing.T, slotSavePath bool) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var erased []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slots", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[{"id":0,"n_ctx":512,"speculative":false,"is_processing":false},{"id":1,"n_ctx":512,"speculative":false,"is_processing":false}]`)
	})
	mux.HandleFunc("POST /slots/{id}", func(w http.ResponseWriter, r *http.Request) {
		if !slotSavePath {
			w.WriteHeader(http.StatusNotImplemented)
			fmt.Fprint(w, `{"error":{"code":501,"message":"This server does not support slots action. Start it with `+"`--slot-save-path`"+`","type":"not_supported_error"}}`)
			return
		}
		mu.Lock()
		erased = append(erased, r.PathValue("id")+":"+r.URL.Query().Get("action"))
		mu.Unlock()
		fmt.Fprintf(w, `{"id_slot":%s,"n_erased":213}`, r.PathValue("id"))
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"object":"list","data":[{"id":"/tmp/model/tiny-llama.gguf","aliases":["/tmp/model/tiny-llama.gguf"],"object":"model","owned_by":"llamacpp","meta":{"vocab_type":1,"n_vocab":32000,"n_ctx":512,"n_ctx_train":4096}}]}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &erased
}

func TestResetErasesEverySlot(t *testing.T) {
	srv, erased := fakeLlama(t, true)
	require.NoError(t, Endpoint(srv.URL).ResetPrefixCache(t.Context()))
	assert.Equal(t, []string{"0:erase", "1:erase"}, *erased)

	srv, _ = fakeLlama(t, false)
	err := Endpoint(srv.URL).ResetPrefixCache(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the route needs --slot-save-path")
	assert.Contains(t, err.Error(), "501 Not Implemented")
}

func TestVocabularyAndMetrics(t *testing.T) {
	srv, _ := fakeLlama(t, true)
	e := Endpoint(srv.URL + "/v1")
	n, err := e.VocabularySize(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 32000, n)
	assert.Equal(t, srv.URL+"/metrics", e.MetricsURL())
	assert.Equal(t, "llamacpp:requests_deferred", e.MetricNames()["waiting"])
	assert.Equal(t, map[string]string{"backend": "llamacpp"}, e.Describe())
	assert.True(t, strings.HasPrefix(e.BaseURL(), "http://"))
}
