package perftest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/engines"
)

func mustFlags(t *testing.T, c Case) Case {
	t.Helper()
	c, err := withFlags(c)
	require.NoError(t, err)
	return c
}

// engineTarget is an engine module's endpoint, as one registers it for -perf.engine.
type engineTarget struct{ url string }

func (e engineTarget) BaseURL() string { return e.url }

func init() {
	engines.Register("perftest-engine", func(url string) engines.Target { return engineTarget{url} })
}

// TestEngineFlag: -perf.engine NAME with -perf.endpoint URL sends the case to the named
// engine's endpoint, so that its cache is reset and its metrics read; without the engine a
// plain endpoint; an engine whose module is not linked, or an engine without an endpoint,
// is an error that names the flag and what to do.
func TestEngineFlag(t *testing.T) {
	const url = "http://127.0.0.1:8000"
	setFlag(t, flagEndpoint, url)
	c := mustFlags(t, Case{Target: Endpoint("http://elsewhere")})
	assert.Equal(t, Endpoint(url), c.Target, "-perf.endpoint alone: a plain endpoint")

	setFlag(t, flagEngine, "perftest-engine")
	c = mustFlags(t, Case{Target: Endpoint("http://elsewhere")})
	assert.Equal(t, engineTarget{url}, c.Target, "-perf.engine: the engine module's endpoint")

	setFlag(t, flagEngine, "sglang")
	_, err := withFlags(Case{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-perf.engine sglang (PERFGATE_ENGINE)")
	assert.Contains(t, err.Error(), `import _ "github.com/perfgate/perfgate/backends/sglang"`)

	setFlag(t, flagEndpoint, "")
	_, err = withFlags(Case{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set -perf.endpoint URL too")
}
