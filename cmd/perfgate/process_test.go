//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/fakeserver"
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// childEnv marks a child process of this test binary that is to be perfgate; its
// arguments follow "--" on the command line.
const childEnv = "PERFGATE_TEST_CHILD"

// TestPerfgateProcess is perfgate itself (main, with its signal handling), run as a child
// process by the tests and benchmarks that need a real process: signals, peak memory.
func TestPerfgateProcess(t *testing.T) {
	i := slices.Index(os.Args, "--")
	if os.Getenv(childEnv) != "1" || i < 0 {
		t.Skip("not a test: perfgate's main, run as a child process by TestCompareEndsOnSignal and BenchmarkCompareProcess")
	}
	os.Args = append([]string{"perfgate"}, os.Args[i+1:]...)
	if os.Getenv(markerEnv) == "1" {
		signalsCaught = func() { os.Stderr.WriteString(signalsMarker + "\n") }
	}
	main()
}

// perfgateCmd is perfgate with args, as a child process of this test binary.
func perfgateCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestPerfgateProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), childEnv+"=1", "GITHUB_STEP_SUMMARY=")
	return cmd
}

// TestCompareEndsOnSignal: perfgate compare ends on SIGINT and SIGTERM, even while a read
// blocks (OLD is a FIFO that never delivers a whole file), with exit status 130 and the
// signal named. The wait is bounded so that a hang fails the test instead of stalling it.
func TestCompareEndsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "old.txt")
			require.NoError(t, syscall.Mkfifo(fifo, 0o600))
			cmd := perfgateCmd("compare", fifo, td+"base.txt")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Start())
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			// Opening the FIFO for writing succeeds once perfgate has opened it for reading:
			// by then its signal handler is set and it waits for the rest of the file.
			w := openFIFOWriter(t, fifo, exited)
			defer w.Close()
			_, err := w.WriteString("Unit ttft-p50-sec better=lower\n\nBenchmarkPerfX 100 0.02")
			require.NoError(t, err)
			require.NoError(t, cmd.Process.Signal(sig))
			select {
			case err = <-exited:
			case <-time.After(time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("perfgate compare did not end within a minute of %v; stderr:\n%s", sig, stderr.String())
			}
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "stderr:\n%s", stderr.String())
			assert.Equal(t, 130, ee.ExitCode())
			assert.Empty(t, stdout.String())
			name := map[syscall.Signal]string{syscall.SIGINT: "interrupt", syscall.SIGTERM: "terminated"}[sig]
			assert.Equal(t, "perfgate compare: interrupted ("+name+" signal received): nothing compared\n", stderr.String())
		})
	}
}

// openFIFOWriter opens path for writing once a reader has it open, failing the test if the
// process reading it exits first or a minute passes.
func openFIFOWriter(t *testing.T, path string, exited <-chan error) *os.File {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			return w
		}
		if !errors.Is(err, syscall.ENXIO) || time.Now().After(deadline) {
			t.Fatalf("open %s for writing: %v", path, err)
		}
		select {
		case err := <-exited:
			t.Fatalf("perfgate exited before opening %s: %v", path, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestCompareInterruptedInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"compare", td + "base.txt", td + "slower.txt"}, &out, &errb)
	assert.Equal(t, 130, code)
	assert.Empty(t, out.String())
	assert.Equal(t, "perfgate compare: interrupted (context canceled): nothing compared\n", errb.String())
}

// BenchmarkCompareProcess runs perfgate compare, as a process, on two files of 20,000
// repetitions with every unit perftest writes (made from the quickstart baseline, 1% noise
// added), and reports its peak resident memory (peak-MB, from the child's rusage) and CPU
// time (cpu-sec/op) beside the wall time. Run it with
//
//	go test ./cmd/perfgate -run '^$' -bench CompareProcess -benchtime 3x
func BenchmarkCompareProcess(b *testing.B) {
	if raceEnabled {
		b.Skip("the race detector multiplies time and memory: measure without -race")
	}
	dir := b.TempDir()
	paths := []string{filepath.Join(dir, "old.txt"), filepath.Join(dir, "new.txt")}
	for i, p := range paths {
		if err := largeResults(uint64(i+1), 20000).WriteFile(p); err != nil {
			b.Fatal(err)
		}
	}
	var peak int64
	var cpu time.Duration
	for b.Loop() {
		cmd := perfgateCmd("compare", paths[0], paths[1])
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
			b.Fatalf("perfgate compare: %v\n%s", err, stderr.String())
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		peak = max(peak, maxRSSBytes(ru))
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-sec/op")
}

// maxRSSBytes is ru_maxrss in bytes: kilobytes on Linux and the BSDs, bytes on macOS.
func maxRSSBytes(ru *syscall.Rusage) int64 {
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss)
	}
	return int64(ru.Maxrss) << 10
}

// largeResults is a result file of n repetitions cycling through the quickstart baseline's,
// each value scaled by 1 + 1% noise.
func largeResults(seed uint64, n int) *resultfile.File {
	q, err := resultfile.Read("../../baselines/cpu/PerfQuickstart.txt")
	if err != nil {
		panic(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	f := &resultfile.File{Path: "large", Name: q.Name, Config: q.Config, Units: q.Units, LowerBetter: q.LowerBetter}
	for i := range n {
		src := q.Reps[i%len(q.Reps)]
		ms := make([]resultfile.Metric, len(src.Metrics))
		for j, m := range src.Metrics {
			ms[j] = resultfile.Metric{Unit: m.Unit, Value: m.Value * (1 + 0.01*rng.NormFloat64())}
			if d, ok := metric.Default().Lookup(m.Unit); ok {
				lo, hi := d.Kind.Range()
				ms[j].Value = min(max(ms[j].Value, lo), hi)
			}
		}
		f.Reps = append(f.Reps, resultfile.Rep{Iters: src.Iters, Metrics: ms})
	}
	return f
}

// BenchmarkRunStreamForever runs perfgate run, as a process, against a server whose
// streams never end (8 of them at once, each as fast as the server can write), with
// --timeout 10s: every request ends at its timeout, and the benchmark reports the run's
// peak resident memory (peak-MB) and the size of the records file it wrote (records-MB).
// Run it with
//
//	go test ./cmd/perfgate -run '^$' -bench RunStreamForever -benchtime 1x
func BenchmarkRunStreamForever(b *testing.B) {
	if raceEnabled {
		b.Skip("the race detector multiplies time and memory: measure without -race")
	}
	srv := fakeserver.Start(b, fakeserver.Config{Fault: fakeserver.StreamForever})
	out := b.TempDir()
	var peak, records int64
	for b.Loop() {
		cmd := perfgateCmd("run", "--endpoint", srv.BaseURL(), "--isl", "8", "--osl", "16", "--requests", "8",
			"--concurrency", "8", "--count", "1", "--warmup", "-1", "--timeout", "10s", "--out", out, "--name", "Forever")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
			b.Fatalf("perfgate run: %v\n%s", err, stderr.String())
		}
		peak = max(peak, maxRSSBytes(cmd.ProcessState.SysUsage().(*syscall.Rusage)))
		st, err := os.Stat(filepath.Join(out, "Forever.records.jsonl"))
		if err != nil {
			b.Fatal(err)
		}
		records = max(records, st.Size())
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
	b.ReportMetric(float64(records)/(1<<20), "records-MB")
}
