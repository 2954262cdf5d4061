// Package kit is what the engine modules under backends share and a perf case never
// calls: the labels and session of the containers this process starts, the readiness
// strategy, request inspection (host configuration, identity, GPU count), the transport
// of engines' control routes, Docker housekeeping (testcontainers' environment, stale
// and leftover containers, images built from Go packages) and the test-deadline guard.
//
// It imports nothing of perfgate, so package backends builds on it; module shells that
// need backends' types are in backends/internal/shell.
package kit
