// Package perftest is the API a perf case is written in.
package perftest
