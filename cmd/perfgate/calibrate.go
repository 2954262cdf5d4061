package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/perfgate/perfgate/perftest/calibrate"
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

Flags:
`

func runCalibrate(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("calibrate", calibrateUsage, stderr)
	streams := fs.String("streams", "1,64,512", "comma-separated concurrent stream counts")
	tokens := fs.Int("tokens", 64, "tokens per request")
	ttft := fs.Duration("ttft", 20*time.Millisecond, "server's time to first token")
	itl := fs.Duration("itl", 10*time.Millisecond, "server's time between tokens")
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
