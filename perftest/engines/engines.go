// Package engines is where engine modules make their endpoints known by name, so that a
// perf case can be pointed at a running server of a named engine from the command line
// (-perf.endpoint URL -perf.engine vllm). perftest reads it and never names an engine;
// each module under backends/ registers itself when it is linked into the test binary.
package engines

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Target is perftest.Target: a server's OpenAI-compatible root. An endpoint's Target also
// implements the optional interfaces through which perftest learns its engine (cache
// reset, metric names, request dialect).
type Target = interface{ BaseURL() string }

var (
	mu        sync.RWMutex
	endpoints = map[string]func(url string) Target{}
)

// Register makes endpoint known as the engine name. Engine modules call it from init; a
// second registration of a name panics, as that is a programming error.
func Register(name string, endpoint func(url string) Target) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := endpoints[name]; dup {
		panic(fmt.Sprintf("engines: %q registered twice", name))
	}
	endpoints[name] = endpoint
}

// Names are the registered engines, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(endpoints))
	for n := range endpoints {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Endpoint is the server of engine name at url. An engine whose module is not linked into
// this binary is an error that says which import links it.
func Endpoint(name, url string) (Target, error) {
	mu.RLock()
	endpoint, ok := endpoints[name]
	mu.RUnlock()
	if !ok {
		linked := "none"
		if names := Names(); len(names) > 0 {
			linked = strings.Join(names, ", ")
		}
		return nil, fmt.Errorf("engine %q is not linked into this test binary (linked: %s): import its module in a _test.go file of the package, e.g. import _ %q",
			name, linked, "github.com/perfgate/perfgate/backends/"+name)
	}
	return endpoint(url), nil
}
