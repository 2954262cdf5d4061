package mock

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/perfgate/perfgate/perftest/engines"
)

// remote is a simulator already running at a URL (perfgate mock, or a mock container): what
// -perf.engine mock points a case at. It knows what a started Server knows of itself but
// its configuration: vLLM's metric names, POST /reset_prefix_cache, and vLLM's request
// fields; whether it drafts or pools, the server's own answers tell.
type remote string

func init() {
	engines.Register("mock", func(url string) engines.Target {
		return remote(strings.TrimSuffix(strings.TrimSuffix(url, "/"), "/v1"))
	})
}

func (r remote) BaseURL() string                { return string(r) }
func (r remote) MetricsURL() string             { return string(r) + "/metrics" }
func (r remote) MetricNames() map[string]string { return metricNames(false) }
func (r remote) Describe() map[string]string    { return map[string]string{"backend": "mock"} }

// RequestFields ask for usage on every chunk, as a drafting simulator's do: harmless when
// it does not draft, and per-token ITL when it does.
func (r remote) RequestFields(api string) map[string]any {
	return requestFields(&Config{Speculative: Speculative{NumSpeculativeTokens: 1}}, api)
}
func (r remote) ReasoningFields(api, level string) map[string]any {
	return reasoningFields(api, level)
}
func (r remote) APIPath(string) (string, error)      { return "", nil }
func (r remote) CheckRequest(string, []string) error { return nil }

// ResetPrefixCache asks the simulator to empty its prefix cache, as vLLM is asked.
func (r remote) ResetPrefixCache(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, string(r)+"/reset_prefix_cache", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reset prefix cache: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset prefix cache: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}
