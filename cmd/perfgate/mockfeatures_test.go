package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/perfgate/perfgate/backends/mock"
)

// vLLM's flags for reasoning, tools, speculative decoding, images and pooling set the
// simulator's config, with its own knobs beside them; none is warned about.
func TestMockArgsFeatures(t *testing.T) {
	var warn bytes.Buffer
	o, err := parseMockArgs([]string{
		"Qwen/Qwen3-8B", "--reasoning-parser", "qwen3", "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
		"--default-chat-template-kwargs", `{"enable_thinking": false}`,
		"--speculative-config", `{"method":"eagle3","model":"yuhuili/EAGLE3-LLaMA3.1-Instruct-8B","num_speculative_tokens":3,"acceptance_rate":0.5}`,
		"--limit-mm-per-prompt", `{"image": 2}`, "--runner=generate",
		"--reasoning-field", "reasoning_content", "--reasoning-tokens", "64", "--reasoning-slowdown", "1.2",
		"--tool-auto-text-rate", "0.25", "--grammar-token-ms", "0.5", "--grammar-compile-ms", "40",
		"--encoder-ms", "3", "--encoder-token-ms", "0.01", "--encoder-cache-tokens", "16k", "--embedding-dim", "384",
		"--otlp-traces-endpoint", "http://127.0.0.1:4318/v1/traces", "--timings",
	}, false, &warn)
	if err != nil {
		t.Fatal(err)
	}
	want := mock.Config{
		Model:              "Qwen/Qwen3-8B",
		Dialect:            mock.Dialect{ReasoningField: "reasoning_content", Timings: true},
		OTLPTracesEndpoint: "http://127.0.0.1:4318/v1/traces",
		Reasoning:          mock.Reasoning{Parser: "qwen3", DefaultOff: true, Tokens: 64, Slowdown: 1.2},
		Tools:              mock.Tools{AutoToolChoice: true, Parser: "hermes", AutoTextRate: 0.25},
		StructuredOutput:   mock.StructuredOutput{TokenMS: 0.5, CompileMS: 40},
		Multimodal:         mock.Multimodal{LimitPerPrompt: map[string]int{"image": 2}, EncoderMS: 3, EncoderTokenMS: 0.01, EncoderCacheTokens: 16000},
		Speculative:        mock.Speculative{Method: "eagle3", NumSpeculativeTokens: 3, AcceptanceRate: 0.5},
		Runner:             "generate",
		EmbeddingDim:       384,
	}
	if diff := cmp.Diff(want, o.cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if warn.Len() != 0 {
		t.Errorf("warnings: %q", warn.String())
	}
	if err := o.cfg.Validate(); err != nil {
		t.Error(err)
	}

	for _, args := range [][]string{
		{"--speculative-config", `{"method":"ngram"}`},
		{"--speculative-config", `not json`},
		{"--limit-mm-per-prompt", `{"image": -1}`},
		{"--default-chat-template-kwargs", `[]`},
	} {
		if _, err := parseMockArgs(args, false, &warn); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	var usage bytes.Buffer
	mockUsage(&usage)
	for _, f := range []string{"--reasoning-parser NAME", "--speculative-config JSON", "--runner NAME", "--reasoning-slowdown X"} {
		if !strings.Contains(usage.String(), f) {
			t.Errorf("usage lacks %s", f)
		}
	}
	if strings.Index(usage.String(), "--runner") > strings.Index(usage.String(), "--workers") {
		t.Error("feature flags after the cluster flags")
	}
}

// `perfgate mock` with vLLM's flags serves a reasoning model with speculative decoding:
// reasoning deltas, then content, and the speculative decoding counters.
func TestMockServeFeatures(t *testing.T) {
	url := startMockCmd(t, "sim-8b", "--port", "0", "--host", "127.0.0.1", "--speedup-ratio", "10",
		"--reasoning-parser", "qwen3", "--speculative-config", `{"method":"ngram","num_speculative_tokens":2}`)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	resp, err := c.Post(url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"messages":[{"role":"user","content":"hi"}],"max_tokens":8,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"reasoning":" tok`) || !strings.Contains(string(b), `"content":" tok`) {
		t.Errorf("stream:\n%s", b)
	}
	resp, err = c.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, s := range []string{"vllm:spec_decode_num_drafts_total", "vllm:spec_decode_num_accepted_tokens_per_pos_total"} {
		if !strings.Contains(string(m), s) {
			t.Errorf("metrics lack %s", s)
		}
	}
}
