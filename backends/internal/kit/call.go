package kit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// engineHTTP is the client of the engines' control routes (cache resets, vocabulary): its
// own timeout bounds every call, whatever the caller's context says.
var engineHTTP = &http.Client{Timeout: 30 * time.Second}

// Call sends method url with no body and returns the answer's start (at most 1 MiB) when
// the engine answered 2xx, else an error naming the route, the status and the engine's
// message, wrapping errors.ErrUnsupported when the server has no such route (404, 405,
// 501). It is the transport of the engine modules' control routes; the call is bounded by
// ctx and by 30 seconds.
func Call(ctx context.Context, method, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	resp, err := engineHTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		err := fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(body[:min(len(body), 512)]))
		switch resp.StatusCode {
		case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
			// This server (this version, these flags) has no such route.
			err = fmt.Errorf("%w (%w)", err, errors.ErrUnsupported)
		}
		return body, err
	}
	return body, nil
}
