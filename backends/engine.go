package backends

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// engineHTTP is the client engine modules use for their control routes (cache resets): its
// own timeout bounds every call, whatever the caller's context says.
var engineHTTP = &http.Client{Timeout: 30 * time.Second}

// Post sends POST url with no body and returns nil when the engine answered 2xx, else an
// error naming the route, the status and the start of the engine's answer. It is the
// transport of the engine modules' control routes, such as vLLM's /reset_prefix_cache; the
// call is bounded by ctx and by 30 seconds, and at most 64 KiB of the answer is read.
func Post(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	resp, err := engineHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, bytes.TrimSpace(body[:min(len(body), 512)]))
	}
	return nil
}
