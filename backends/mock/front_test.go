package mock

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRoutesServerAndCluster sends the same requests to a server and to a cluster of two
// workers configured alike: they answer alike, error bodies byte for byte, because one
// route table serves both. Only /version names which one answered.
func TestRoutesServerAndCluster(t *testing.T) {
	cfg := Config{Model: "m", MaxModelLen: 64, MaxBodyBytes: 4096}
	srv := Start(t, cfg)
	cl := StartCluster(t, ClusterConfig{Workers: 2, Worker: cfg})
	c := client(t)
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/health", "", 200},
		{"GET", "/v1/models", "", 200},
		{"POST", "/v1/completions", `{"prompt":[1,2,3],"max_tokens":2}`, 200},
		{"POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}`, 200},
		{"GET", "/v1/completions", "", 405},
		{"POST", "/v1/completions", `{"model":"gpt-9","prompt":[1],"max_tokens":1}`, 404},
		{"POST", "/v1/completions", `{"prompt":[1,2`, 400},
		{"POST", "/v1/completions", `{"prompt":"` + strings.Repeat("x ", 4000) + `","max_tokens":1}`, 413},
		{"POST", "/reset_prefix_cache", "", 200},
		{"GET", "/reset_prefix_cache", "", 404},
		{"GET", "/v2/nothing", "", 404},
	} {
		name := tc.method + " " + tc.path
		a, aBody := do(t, c, tc.method, srv.BaseURL()+tc.path, tc.body)
		b, bBody := do(t, c, tc.method, cl.BaseURL()+tc.path, tc.body)
		if a.StatusCode != tc.status || b.StatusCode != tc.status {
			t.Errorf("%s: server %d, cluster %d; want %d", name, a.StatusCode, b.StatusCode, tc.status)
		}
		if a.Header.Get("Content-Type") != b.Header.Get("Content-Type") {
			t.Errorf("%s: Content-Type %q from the server, %q from the cluster", name, a.Header.Get("Content-Type"), b.Header.Get("Content-Type"))
		}
		if tc.status != 200 && aBody != bBody {
			t.Errorf("%s: the server answered\n%s\nthe cluster\n%s", name, aBody, bBody)
		}
	}
	for url, want := range map[string]string{srv.BaseURL(): `{"version":"perfgate-mock"}`, cl.BaseURL(): `{"version":"perfgate-mock-cluster"}`} {
		if _, body := do(t, c, "GET", url+"/version", ""); body != want {
			t.Errorf("GET %s/version = %s, want %s", url, body, want)
		}
	}
}

// do sends a request, with a JSON body unless body is empty, and returns the response
// and its body.
func do(t *testing.T, c *http.Client, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestClosedAnswers503 shows the guard of a closed server and of a closed cluster: every
// guarded route answers 503 without reaching the engine.
func TestClosedAnswers503(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := NewCluster(ClusterConfig{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]interface {
		Close() error
		handler() http.Handler
	}{"server": s, "cluster": cl} {
		f.Close()
		for _, path := range []string{"/health", "/v1/models", "/v1/completions", "/version", "/nothing"} {
			rec := httptest.NewRecorder()
			f.handler().ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader(`{"prompt":[1],"max_tokens":1}`)))
			if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "server is shutting down") {
				t.Errorf("closed %s, %s: %d %s", name, path, rec.Code, rec.Body)
			}
		}
	}
}

func (f *front) handler() http.Handler { return f.http.Handler }
