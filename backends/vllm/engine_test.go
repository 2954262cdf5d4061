package vllm_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/perfgate/perfgate/backends/vllm"
	"github.com/perfgate/perfgate/internal/fakeserver"
)

// TestReset covers the answers vLLM's POST /reset_prefix_cache gives: 200 and an empty body
// (up to v0.14), 200 and {"success": bool} (later), 404 without VLLM_SERVER_DEV_MODE.
func TestReset(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		want       string // "" for success
	}{
		{"v0.14", "", 200, ""},
		{"v0.26 success", `{"success":true}`, 200, ""},
		{"v0.26 refused", `{"success":false}`, 200, "success false"},
		{"no dev mode", `{"detail":"Not Found"}`, 404, "the route needs VLLM_SERVER_DEV_MODE=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/reset_prefix_cache" {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			err := vllm.Endpoint(srv.URL + "/v1").ResetPrefixCache(t.Context())
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if tc.status == 404 && !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("a server without the route: %v should wrap errors.ErrUnsupported, so results say unavailable", err)
			}
		})
	}
}

// TestResetBySleeping covers a server without /reset_prefix_cache that sleeps, as
// llm-d-inference-sim does: asleep, it drops its KV cache, and it wakes with it empty; without
// --enable-sleep-mode it answers /sleep all the same and stays awake, which /is_sleeping shows.
func TestResetBySleeping(t *testing.T) {
	srv := fakeserver.Start(t, fakeserver.Config{Sleep: fakeserver.SleepHonoured})
	if err := vllm.Endpoint(srv.URL + "/v1").ResetPrefixCache(t.Context()); err != nil {
		t.Fatal(err)
	}
	if srv.Sleeps() != 1 || srv.Asleep() {
		t.Errorf("the server slept %d times and is asleep: %t; want one sleep, awake after", srv.Sleeps(), srv.Asleep())
	}

	srv = fakeserver.Start(t, fakeserver.Config{Sleep: fakeserver.SleepIgnored})
	err := vllm.Endpoint(srv.URL + "/v1").ResetPrefixCache(t.Context())
	if err == nil || !strings.Contains(err.Error(), "did not sleep") || !strings.Contains(err.Error(), "--enable-sleep-mode") {
		t.Fatalf("err = %v, want the server's sleep refused, naming --enable-sleep-mode", err)
	}
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("%v should wrap errors.ErrUnsupported, so results say unavailable (once)", err)
	}
}
