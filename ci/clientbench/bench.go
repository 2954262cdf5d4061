//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest"
)

// cpuTable runs repeat sessions at each stream count and prints the client's CPU per token,
// a row as soon as it is measured.
func cpuTable(ctx context.Context, w io.Writer, url string, counts []int, tokens, perStream, minRequests, repeat int, floor bool) error {
	kinds := []string{"perfgate"}
	if floor {
		kinds = append(kinds, "bare-go")
	}
	const row = "%-8s %7s %8s %15s %10s %8s %8s %12s %9s %11s %8s\n"
	fmt.Fprintf(w, row, "client", "streams", "requests", "tokens received", "client CPU", "user", "sys", "CPU µs/token", "tokens/s", "reads/token", "load avg")
	for _, n := range counts {
		for range repeat {
			for _, kind := range kinds {
				measure := measure
				if kind == "bare-go" {
					measure = floorMeasure
				}
				m, err := measure(ctx, url, n, tokens, max(n*perStream, minRequests))
				if err != nil {
					return fmt.Errorf("%s at %d streams: %w", kind, n, err)
				}
				cpu := m.user + m.sys
				fmt.Fprintf(w, row, kind, strconv.Itoa(n), strconv.Itoa(m.requests), strconv.Itoa(m.tokens),
					fmt.Sprintf("%.3fs", cpu.Seconds()), fmt.Sprintf("%.3fs", m.user.Seconds()), fmt.Sprintf("%.3fs", m.sys.Seconds()),
					fmt.Sprintf("%.3f", float64(cpu.Nanoseconds())/1e3/float64(m.tokens)),
					fmt.Sprintf("%.0f", float64(m.tokens)/m.wall.Seconds()), fmt.Sprintf("%.2f", float64(m.reads)/float64(m.tokens)), loadAvg())
			}
		}
	}
	return nil
}

type measurement struct {
	requests, tokens int
	reads            int64 // read system calls (0: unknown)
	user, sys, wall  time.Duration
}

// measure runs one session of requests at n streams (after a warm-up that opens the
// connections) and returns the CPU the process used during the repetition.
func measure(ctx context.Context, url string, n, tokens, requests int) (measurement, error) {
	c := perftest.Case{Name: "ClientBench", Target: perftest.Endpoint(url), Model: "bench",
		Workload: fixtures.Synthetic{ISL: 16, OSL: tokens, Prompts: requests, Seed: 1},
		Load:     perftest.Concurrency(n), Count: 1, Warmup: n, Timeout: 5 * time.Minute}
	s, err := perftest.NewSession(ctx, c, perftest.ExecOptions{Hardware: "bench"})
	if err != nil {
		return measurement{}, err
	}
	defer s.Close()
	if err := s.Warmup(ctx); err != nil {
		return measurement{}, err
	}
	runtime.GC()
	u0, s0 := cpuTime()
	r0 := readCalls()
	t0 := time.Now()
	if err := s.Repeat(ctx); err != nil {
		return measurement{}, err
	}
	wall := time.Since(t0)
	u1, s1 := cpuTime()
	r1 := readCalls()
	rep := s.Result().Reps[0]
	m := measurement{requests: rep.Requests, user: u1 - u0, sys: s1 - s0, wall: wall, reads: r1 - r0}
	for i := range rep.Records {
		r := &rep.Records[i]
		if r.Outcome != perftest.OK {
			return m, fmt.Errorf("request %d: %s: %s", r.Index, r.Outcome, r.Error)
		}
		m.tokens += r.Chunks
	}
	return m, nil
}

// holdStreams opens n streams that the server holds after their first token, and reports
// the client's heap and goroutine stacks per in-flight stream.
func holdStreams(ctx context.Context, w io.Writer, url string, n int, memprofile string) error {
	c := perftest.Case{Name: "Streams", Target: perftest.Endpoint(url), Model: "bench",
		Workload: fixtures.Synthetic{ISL: 64, OSL: 32, Prompts: n, Seed: 1},
		Load:     perftest.Concurrency(n), Count: 1, Warmup: -1, Timeout: 5 * time.Minute,
		Extra: map[string]any{"hold": true}}
	s, err := perftest.NewSession(ctx, c, perftest.ExecOptions{Hardware: "bench"})
	if err != nil {
		return err
	}
	defer s.Close()
	var before, during runtime.MemStats
	runtime.GC()
	runtime.GC() // the second frees what sync.Pools held at the first
	runtime.ReadMemStats(&before)
	done := make(chan error, 1)
	go func() { done <- s.Repeat(ctx) }()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		h, err := get(url + "/held")
		if err != nil {
			return err
		}
		if h >= n {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d streams open after 3 minutes", h, n)
		}
		select {
		case err := <-done:
			return fmt.Errorf("the run ended with %d of %d streams open: %v", h, n, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	time.Sleep(500 * time.Millisecond) // the client reads the last first tokens
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&during)
	goroutines := runtime.NumGoroutine()
	if memprofile != "" {
		f, err := os.Create(memprofile)
		if err != nil {
			return err
		}
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	resp, err := http.Post(url+"/release", "text/plain", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if err := <-done; err != nil {
		return err
	}
	rep := s.Result().Reps[0]
	if ok := rep.Outcomes[perftest.OK]; ok != n {
		return fmt.Errorf("%d of %d streams succeeded", ok, n)
	}
	heap := float64(int64(during.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
	stack := float64(int64(during.StackInuse)-int64(before.StackInuse)) / float64(n)
	fmt.Fprintf(w, "streams held open: %d (%d goroutines)\n", n, goroutines)
	fmt.Fprintf(w, "client heap per in-flight stream: %.1f KiB\n", heap/1024)
	fmt.Fprintf(w, "goroutine stacks per in-flight stream: %.1f KiB\n", stack/1024)
	fmt.Fprintf(w, "heap + stacks for %d streams: %.1f MiB\n", n, (heap+stack)*float64(n)/(1<<20))
	return nil
}

func get(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// readCalls is the number of read system calls the process has made (Linux's
// /proc/self/io syscr), or 0 where it is unknown.
func readCalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "syscr: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
