package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/fakeserver"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// TestRunAPIs: --api takes the Responses API and embeddings beside completions and chat,
// each measured by what it has (a stand-in answers as vLLM does).
func TestRunAPIs(t *testing.T) {
	srv := fakeserver.StartStandIn(t, fakeserver.StandIn{Reasoning: 2})
	for api, unit := range map[string]string{"responses": "ttfo-p50-sec", "embeddings": "inputs/s"} {
		out := t.TempDir()
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), []string{"run", "--endpoint", srv.URL, "--api", api, "--isl", "16", "--osl", "4", "--requests", "6",
			"--concurrency", "2", "--count", "2", "--out", out, "--name", "API"}, &stdout, &stderr)
		require.Equal(t, 0, code, "--api %s: stderr: %s", api, stderr.String())
		rf, err := resultfile.Read(filepath.Join(out, "API.txt"))
		require.NoError(t, err)
		assert.Len(t, rf.Values(unit), 2, api)
		assert.Equal(t, api, rf.Config[slicesIndex(rf.Config, "api")].Value)
	}
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"run", "--endpoint", srv.URL, "--api", "grpc"}, &stdout, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), `--api "grpc": want completions, chat, responses, embeddings or rerank`)
}

func slicesIndex(kvs []resultfile.KV, key string) int {
	for i, kv := range kvs {
		if kv.Key == key {
			return i
		}
	}
	return -1
}
