package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest"
	"github.com/perfgate/perfgate/perftest/engines"
)

// TestEnginesRegistered: every engine module the command links is known to --engine and to
// -perf.engine by its name, and its endpoint records that name as the backend and can reset
// a cache and read metrics (what a plain endpoint cannot).
func TestEnginesRegistered(t *testing.T) {
	require.Equal(t, []string{"dynamo", "llamacpp", "mock", "sglang", "trtllm", "vllm"}, engines.Names())
	for _, name := range engines.Names() {
		tgt, err := engines.Endpoint(name, "http://127.0.0.1:8000/v1")
		require.NoError(t, err, name)
		assert.Equal(t, "http://127.0.0.1:8000", tgt.BaseURL(), name)
		if d, ok := tgt.(perftest.Describer); assert.True(t, ok, name) {
			assert.Equal(t, name, d.Describe()["backend"], name)
		}
		_, ok := tgt.(perftest.MetricsSource)
		assert.True(t, ok, "%s: metrics", name)
	}
}
