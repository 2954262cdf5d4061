package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/internal/golden"
)

const capacityTD = "internal/capacity/testdata/"

func TestEstimateGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"estimate-llama-3-8b", []string{"--config", capacityTD + "llama-3-8b.json", "--isl", "1024", "--osl", "1024"}},
		{"estimate-deepseek-v3-tp8", []string{"--config", capacityTD + "deepseek-v3.json", "--gpu-memory", "141GB", "--tp", "8", "--kv-dtype", "fp8", "--isl", "4096", "--osl", "1024"}},
		{"estimate-mixtral-one-gpu", []string{"--config", capacityTD + "mixtral-8x7b.json"}},
		{"estimate-llama-3-8b.json", []string{"--config", capacityTD + "llama-3-8b.json", "--gpu-memory", "24GiB", "--kv-dtype", "fp8", "--isl", "2048", "--osl", "256", "--format", "json"}},
	} {
		code, out, errs := runTraceCmd(t, append([]string{"estimate"}, tc.args...)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.name, code, errs)
		}
		golden.Check(t, tc.name, []byte(out))
	}
	_, out, _ := runTraceCmd(t, "estimate", capacityTD+"llama-3-8b.json", "--format", "json")
	var e struct {
		KV int64 `json:"kv_bytes_per_token"`
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil || e.KV != 131072 {
		t.Errorf("Llama-3-8B: %d bytes of KV per token, %v", e.KV, err)
	}
}

func TestEstimateErrors(t *testing.T) {
	bad := writeMooncake(t, `{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 8, "num_key_value_heads": 3, "vocab_size": 10}`)
	code, _, errs := runTraceCmd(t, "estimate", "--config", bad)
	if code != 2 || !strings.Contains(errs, `field "num_key_value_heads"`) || !strings.Contains(errs, `field "intermediate_size"`) {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	for _, args := range [][]string{{"estimate"}, {"estimate", "--config", capacityTD + "llama-3-8b.json", "--gpu-memory", "lots"},
		{"estimate", "--config", capacityTD + "llama-3-8b.json", "--format", "yaml"}, {"estimate", "--config", capacityTD + "llama-3-8b.json", "--isl", "5"}} {
		if code, _, _ := runTraceCmd(t, args...); code != 2 {
			t.Errorf("%q: exit %d", args, code)
		}
	}
}
