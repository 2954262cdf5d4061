package perftest

import "strings"

// Target is what a perf case sends its requests to: anything with an OpenAI-compatible base
// URL, such as a started simulator (mock.Start), a backend container, or Endpoint(url).
type Target interface {
	// BaseURL is the server's root, e.g. "http://127.0.0.1:8000", without "/v1".
	BaseURL() string
}

// Describer is implemented by targets that can say what they are. Describe returns config
// keys recorded with every result ("backend", "model", "image", "gpu", ...). Keys must be
// lower-case identifiers and values must have no spaces: they become benchmark config lines.
// Only keys that identify the system under test belong here (not tunables a regression
// could hide behind).
type Describer interface {
	Describe() map[string]string
}

// Endpoint is a Target for a server that is already running.
func Endpoint(url string) Target {
	return endpoint(strings.TrimSuffix(strings.TrimSuffix(url, "/"), "/v1"))
}

type endpoint string

func (e endpoint) BaseURL() string { return string(e) }

// Describe implements Describer.
func (e endpoint) Describe() map[string]string { return map[string]string{"backend": "endpoint"} }
