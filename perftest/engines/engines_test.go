package engines

import (
	"strings"
	"testing"
)

type fake string

func (f fake) BaseURL() string { return string(f) }

func TestRegisterAndEndpoint(t *testing.T) {
	Register("test-engine", func(url string) Target { return fake(url) })
	t.Cleanup(func() { mu.Lock(); delete(endpoints, "test-engine"); mu.Unlock() })
	got, err := Endpoint("test-engine", "http://127.0.0.1:1")
	if err != nil || got.BaseURL() != "http://127.0.0.1:1" {
		t.Fatalf("Endpoint = %v, %v", got, err)
	}
	_, err = Endpoint("nope", "http://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), `import _ "github.com/perfgate/perfgate/backends/nope"`) ||
		!strings.Contains(err.Error(), "linked: test-engine") {
		t.Errorf("unknown engine: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("a second registration of a name did not panic")
		}
	}()
	Register("test-engine", func(url string) Target { return fake(url) })
}
