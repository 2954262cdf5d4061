//go:build unix

// Command clientbench measures what perfgate's client costs per streamed token over
// loopback: it starts a bare SSE server in a second process (this program, re-run with
// -serve), runs perftest sessions against it at several stream counts, and prints for each
// the tokens received, the client process's CPU time (getrusage) per token and the tokens
// per second. With -hold it instead holds that many streams open after their first token
// and prints the client's heap and stack per in-flight stream (ci/streams10k uses it).
//
//	go run ./ci/clientbench                       # 1, 64 and 512 streams of 512 tokens
//	go run ./ci/clientbench -server flood -streams 64 -cpuprofile /tmp/client.pprof
//	go run ./ci/clientbench -hold 10000
//
// Two servers: steps writes one token to every stream per step from one loop, as an engine
// does, so that each token is a read of its own for the client; flood writes each stream's
// tokens back to back, so that one read carries many. Beside perfgate, bare-go is the least
// a Go client can spend on the same streams (read into a buffer, count, parse nothing).
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

	"github.com/perfgate/perfgate/internal/proc"
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
	serve := fs.String("serve", "", "be the SSE server of this kind (the benchmark starts itself with it)")
	servers := fs.String("server", "steps,flood", "comma-separated server kinds to measure against: steps (one step loop writes one "+
		"token to every stream per step, as an engine does: one read per token) or flood (each stream's tokens back to back: "+
		"reads carry many)")
	step := fs.Duration("step", 0, "the steps server's step (0: steps back to back)")
	streams := fs.String("streams", "1,64,512", "comma-separated concurrent stream counts")
	tokens := fs.Int("tokens", 512, "tokens per request")
	perStream := fs.Int("requests-per-stream", 4, "requests each stream sends")
	minRequests := fs.Int("min-requests", 64, "requests at least, at any stream count")
	repeat := fs.Int("repeat", 1, "runs at each stream count")
	floor := fs.Bool("floor", true, "also measure a bare Go reader that parses nothing, the floor of the cost")
	hold := fs.Int("hold", 0, "hold this many streams open and report memory per stream instead")
	memprofile := fs.String("memprofile", "", "with -hold: write the client's heap profile while the streams are held here")
	cpuprofile := fs.String("cpuprofile", "", "write the client's CPU profile of the measured runs here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *serve != "" {
		return serveSSE(ctx, os.Stdout, *step, *serve == "flood")
	}
	var counts []int
	for _, f := range strings.Split(*streams, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("-streams: %q is not a positive count", f)
		}
		counts = append(counts, n)
	}
	kinds := strings.Split(*servers, ",")
	for _, k := range kinds {
		if k != "steps" && k != "flood" {
			return fmt.Errorf("-server: %q is neither steps nor flood", k)
		}
	}
	header(stdout)
	if *hold > 0 {
		srv, err := startServer(ctx, "steps", *step)
		if err != nil {
			return err
		}
		defer srv.stop()
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
	for _, k := range kinds {
		srv, err := startServer(ctx, k, *step)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nserver: %s, %d tokens a request\n", describe(k, *step), *tokens)
		err = cpuTable(ctx, stdout, srv.url, counts, *tokens, *perStream, *minRequests, *repeat, *floor)
		srv.stop()
		if err != nil {
			return err
		}
	}
	return nil
}

func describe(kind string, step time.Duration) string {
	if kind == "flood" {
		return "flood (each stream's tokens written back to back, one write each)"
	}
	if step == 0 {
		return "steps (one loop writes one token to every stream per step, steps back to back)"
	}
	return fmt.Sprintf("steps (one loop writes one token to every stream per step, a step every %v)", step)
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
func startServer(ctx context.Context, kind string, step time.Duration) (*server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	cmd := proc.Command(ctx, exe, "-serve", kind, "-step", step.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	// The address line, from at most 4 KiB of output, within a minute.
	timer := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(io.LimitReader(out, 4<<10)).ReadString('\n')
	timer.Stop()
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
