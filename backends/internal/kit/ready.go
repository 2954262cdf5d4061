package kit

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/testcontainers/testcontainers-go/wait"
)

// DefaultStartupTimeout bounds how long a backend may take to become ready (it is
// backends.DefaultStartupTimeout). It is long because the first start downloads and loads
// model weights.
const DefaultStartupTimeout = 30 * time.Minute

// Ready is the wait strategy of every backend: the container is ready when GET /health on
// Port answers 200 and GET /v1/models lists Model. It fails at once, with the exit code, when
// the container exits while loading. Its fields are plain data so requests compare with
// go-cmp.
type Ready struct {
	Port           string        // container port, e.g. "8000/tcp"
	Path           string        // health path; "/health" when empty
	Model          string        // model id /v1/models must list; "" skips that check
	StartupTimeout time.Duration // how long to wait; 0 means DefaultStartupTimeout
	Poll           time.Duration // time between probes; 0 means 500ms
}

var (
	_ wait.Strategy        = (*Ready)(nil)
	_ wait.StrategyTimeout = (*Ready)(nil)
)

// Timeout implements wait.StrategyTimeout.
func (r *Ready) Timeout() *time.Duration {
	d := cmp.Or(r.StartupTimeout, DefaultStartupTimeout)
	return &d
}

// String describes the strategy.
func (r *Ready) String() string {
	if r.Model == "" {
		return fmt.Sprintf("GET %s on port %s", cmp.Or(r.Path, "/health"), r.Port)
	}
	return fmt.Sprintf("GET %s and /v1/models listing %q on port %s", cmp.Or(r.Path, "/health"), r.Model, r.Port)
}

// WaitUntilReady implements wait.Strategy.
func (r *Ready) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, *r.Timeout())
	defer cancel()
	poll := cmp.Or(r.Poll, 500*time.Millisecond)
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	var last error
	for {
		st, err := target.State(ctx)
		if err == nil && !st.Running {
			msg := fmt.Sprintf("container exited with code %d while starting", st.ExitCode)
			if st.OOMKilled {
				msg += " (out of memory)"
			}
			return errors.New(msg)
		}
		if err == nil {
			last = r.probe(ctx, hc, target)
			if last == nil {
				return nil
			}
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v (timeout %v): %w (last probe: %v)", time.Since(start).Round(time.Second), *r.Timeout(), ctx.Err(), last)
		case <-time.After(poll):
		}
	}
}

func (r *Ready) probe(ctx context.Context, hc *http.Client, target wait.StrategyTarget) error {
	host, err := target.Host(ctx)
	if err != nil {
		return err
	}
	port, err := target.MappedPort(ctx, r.Port)
	if err != nil {
		return err
	}
	base := "http://" + net.JoinHostPort(host, port.Port())
	if _, err := get(ctx, hc, base+cmp.Or(r.Path, "/health")); err != nil {
		return err
	}
	if r.Model == "" {
		return nil
	}
	body, err := get(ctx, hc, base+"/v1/models")
	if err != nil {
		return err
	}
	var models struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &models); err != nil {
		return fmt.Errorf("decode /v1/models: %w", err)
	}
	ids := make([]string, 0, len(models.Data))
	for _, m := range models.Data {
		ids = append(ids, m.ID)
	}
	if !slices.Contains(ids, r.Model) {
		return fmt.Errorf("/v1/models lists %q, not %q", ids, r.Model)
	}
	return nil
}

func get(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}
