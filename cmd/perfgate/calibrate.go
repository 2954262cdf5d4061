package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/perfgate/perfgate/cmd/perfgate/internal/calibrate"
)

func init() {
	register(command{
		name:    "calibrate",
		summary: "measure the client's own timing error, pacing and memory on this machine",
		run:     runCalibrate,
	})
}

const calibrateUsage = `Usage: perfgate calibrate [flags]

Runs perfgate's client against an in-process server that records when it sent every chunk,
and reports the client's TTFT and ITL bias and p99 error at several stream counts, its
schedule lag and delivered rate at a high open-loop rate, and its memory per in-flight
stream: how far perfgate's numbers can be trusted on this machine.

The server behaves like an engine (--mode burst): one step loop writes one token to every
stream per --itl, and stamps each chunk when its write returned; the time a step takes to
hand its last chunk to the kernel (the drain time) is printed beside the client's error, as
the floor of what any client on this machine can resolve. --mode per-stream gives every
stream its own timer and stamps each chunk just before its write.

Flags:
`

func runCalibrate(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("calibrate", calibrateUsage, stderr)
	mode := fs.String("mode", "burst", "how the server paces its streams: burst or per-stream")
	streams := fs.String("streams", "1,64,512,2048", "comma-separated concurrent stream counts")
	tokens := fs.Int("tokens", 64, "tokens per request")
	ttft := fs.Duration("ttft", 20*time.Millisecond, "server's time to first token")
	itl := fs.Duration("itl", 10*time.Millisecond, "server's time between tokens (burst: its step)")
	rate := fs.Float64("rate", 2000, "open-loop rate of the pacing probe (negative: skip)")
	pacingN := fs.Int("pacing-requests", 4000, "requests in the pacing probe")
	mem := fs.Int("memory-streams", 1000, "streams held open to measure memory (negative: skip)")
	pos, code, done := parseArgs(fs, args, stdout)
	if done {
		return code, nil
	}
	if len(pos) > 0 {
		return 2, fmt.Errorf("unexpected arguments %q", pos)
	}
	opt := calibrate.Options{Tokens: *tokens, TTFT: *ttft, ITL: *itl, Rate: *rate, PacingRequests: *pacingN, MemoryStreams: *mem}
	switch *mode {
	case "burst":
		opt.Mode = calibrate.Burst
	case "per-stream":
		opt.Mode = calibrate.PerStream
	default:
		return 2, fmt.Errorf("--mode: %q is neither burst nor per-stream", *mode)
	}
	for _, f := range strings.Split(*streams, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return 2, fmt.Errorf("--streams: %q is not a positive count", f)
		}
		opt.Streams = append(opt.Streams, n)
	}
	cal, err := calibrate.Run(ctx, opt)
	if err != nil {
		return 1, err
	}
	return 0, cal.WriteText(stdout)
}
