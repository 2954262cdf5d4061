//go:build unix

// Command clientbench measures what perfgate's client costs per streamed token over
// loopback: it starts a bare SSE server in a second process (this program, re-run with
// -serve), runs perftest sessions against it at several stream counts, and prints for each
// the tokens received, the client process's CPU time (getrusage) per token and the tokens
// per second. With -hold it instead holds that many streams open after their first token
// and prints the client's heap and stack per in-flight stream (ci/streams10k uses it).
//
//	go run ./ci/clientbench                       # 1, 64 and 512 streams of 512 tokens
//	go run ./ci/clientbench -streams 64 -cpuprofile /tmp/client.pprof
//	go run ./ci/clientbench -hold 10000
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "clientbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("clientbench", flag.ContinueOnError)
	serve := fs.Bool("serve", false, "be the SSE server (the benchmark starts itself with it)")
	step := fs.Duration("step", 0, "the server's step: every stream gets one token per step (0: steps back to back)")
	flood := fs.Bool("flood", false, "the server writes each stream's tokens back to back instead of in steps")
	streams := fs.String("streams", "1,64,512", "comma-separated concurrent stream counts")
	tokens := fs.Int("tokens", 512, "tokens per request")
	perStream := fs.Int("requests-per-stream", 4, "requests each stream sends")
	minRequests := fs.Int("min-requests", 64, "requests at least, at any stream count")
	repeat := fs.Int("repeat", 1, "runs at each stream count")
	hold := fs.Int("hold", 0, "hold this many streams open and report memory per stream instead")
	floor := fs.Bool("floor", false, "also measure a bare Go reader that parses nothing, the floor of the cost")
	memprofile := fs.String("memprofile", "", "with -hold: write the client's heap profile while the streams are held here")
	cpuprofile := fs.String("cpuprofile", "", "write the client's CPU profile of the measured runs here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *serve {
		return serveSSE(ctx, os.Stdout, *step, *flood)
	}
	var counts []int
	for _, f := range strings.Split(*streams, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("-streams: %q is not a positive count", f)
		}
		counts = append(counts, n)
	}
	srv, err := startServer(ctx, *step, *flood)
	if err != nil {
		return err
	}
	defer srv.stop()
	header(stdout)
	if *hold > 0 {
		return holdStreams(ctx, stdout, srv.url, *hold, *memprofile)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return cpuTable(ctx, stdout, srv.url, counts, *tokens, *perStream, *minRequests, *repeat, *floor)
}

// header prints when and where the figures were taken.
func header(w io.Writer) {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "go: %s %s/%s, GOMAXPROCS %d, %d CPUs\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), runtime.NumCPU())
	if len(load) > 0 {
		fmt.Fprintf(w, "load average at start: %s\n", strings.Join(strings.Fields(string(load))[:3], " "))
	}
}

// server is the SSE server process.
type server struct {
	cmd *exec.Cmd
	url string
}

// startServer runs this program with -serve and reads the address it listens on.
func startServer(ctx context.Context, step time.Duration, flood bool) (*server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "-serve", "-step", step.String(), "-flood="+strconv.FormatBool(flood))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("start server: no address: %w", err)
	}
	return &server{cmd: cmd, url: strings.TrimSpace(line)}, nil
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil && !errors.As(err, new(*exec.ExitError)) {
		fmt.Fprintln(os.Stderr, "clientbench: server:", err)
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
