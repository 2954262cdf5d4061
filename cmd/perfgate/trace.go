package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/internal/atomicfile"
)

func init() {
	register(command{
		name:    "trace",
		summary: "inspect request traces (Mooncake, Azure, BurstGPT, ShareGPT)",
		run:     runTrace,
	})
}

const traceUsage = `Usage:

	perfgate trace stats FILE [--format text|json] [--cache-blocks N] [--block-size N]
	                          [--type T] [--lenient]
	perfgate trace synth FILE [-o OUT] [--start D] [--end D] [--limit N] [--sample P]
	                          [--max-isl N] [--cap-isl N] [--prefix-roots K] [--prefix-len F]
	                          [--prompt-len G] [--speedup S] [--seed N] [--type T] [--lenient]

Subcommands:

	stats    requests, duration, rate, ISL/OSL percentiles and the prefix hit ratio a cache
	         would see (unlimited, and an LRU of --cache-blocks blocks of 512 tokens);
	         with --block-size, as an engine with that block size would see the replayed
	         token prompts
	synth    reshape a trace (window, filters, sample, limit) and scale it (more prefix
	         roots, longer prefixes or prompts, a faster clock); write it as Mooncake JSONL
	         (-o OUT is replaced only when the whole trace was written, and never the input)

FILE may be gzip- or bzip2-compressed; the format is told from the content. A trace with
no requests (empty, or every row skipped with --lenient) is an error.
`

func runTrace(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	if len(args) == 0 {
		fmt.Fprint(stderr, traceUsage)
		return 2, nil
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, traceUsage)
		return 0, nil
	case "stats":
		return traceStats(ctx, args[1:], stdout, stderr)
	case "synth":
		return traceSynth(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "perfgate trace: unknown subcommand %q\n\n%s", args[0], traceUsage)
	return 2, nil
}

// traceStatsOutput is the JSON form of trace stats.
type traceStatsOutput struct {
	File   string `json:"file"`
	Format string `json:"format"`
	fixtures.Stats
}

func traceStats(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("trace stats", "Usage: perfgate trace stats FILE [flags]\n\nFlags:\n", stderr)
	format := fs.String("format", "text", "output `format`: text or json")
	cacheBlocks := fs.Int("cache-blocks", 0, "also report the hit ratio of an LRU cache of `N` blocks")
	typ := fs.String("type", "auto", "trace `type`: auto, mooncake, azure, burstgpt or sharegpt")
	lenient := fs.Bool("lenient", false, "skip bad rows and report how many instead of failing")
	blockSize := fs.Int("block-size", 0, "hash the replayed token prompts in blocks of `N` tokens, as an engine does (0: use the trace's 512-token hash ids)")
	path, code, done := oneFile(fs, args, stdout)
	if done {
		return code, nil
	}
	if *format != "text" && *format != "json" {
		return 2, fmt.Errorf("--format must be text or json, got %q", *format)
	}
	skipped := 0
	tr, err := fixtures.OpenTrace(path, fixtures.TraceOptions{
		Format:  *typ,
		Lenient: *lenient,
		OnSkip: func(err error) {
			if skipped < 5 {
				fmt.Fprintf(stderr, "skip: %v\n", err)
			}
			skipped++
		},
	})
	if err != nil {
		return 1, err
	}
	if *blockSize < 0 {
		return 2, fmt.Errorf("--block-size must be >= 0, got %d", *blockSize)
	}
	opts := fixtures.StatsOptions{CacheBlocks: *cacheBlocks, BlockSize: *blockSize}
	var st fixtures.Stats
	if *blockSize > 0 {
		st, err = fixtures.WorkloadStats(ctxWorkload{tr, ctx}, opts)
	} else {
		st, err = fixtures.TraceStats(withContext(ctx, tr.Rows()), opts)
	}
	if err != nil {
		return 1, err
	}
	if st.Requests == 0 {
		hint := ""
		switch {
		case skipped == 1:
			hint = " (1 bad row was skipped)"
		case skipped > 1:
			hint = fmt.Sprintf(" (%d bad rows were skipped)", skipped)
		}
		return 1, fmt.Errorf("trace %s has %w%s", path, fixtures.ErrNoRequests, hint)
	}
	st.Skipped = skipped
	if skipped > 5 {
		fmt.Fprintf(stderr, "skip: ... %d bad rows in all\n", skipped)
	}
	out := traceStatsOutput{File: path, Format: tr.Name(), Stats: st}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return 0, enc.Encode(out)
	}
	return 0, writeStatsText(stdout, out)
}

// oneFile parses the flags of a command that takes one FILE argument.
func oneFile(fs *flag.FlagSet, args []string, stdout io.Writer) (file string, code int, done bool) {
	pos, code, done := parseArgs(fs, args, stdout)
	if done {
		return "", code, true
	}
	if len(pos) != 1 {
		fs.Usage()
		return "", 2, true
	}
	return pos[0], 0, false
}

func traceSynth(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("trace synth", "Usage: perfgate trace synth FILE [flags]\n\nFlags:\n", stderr)
	out := fs.String("o", "", "write to `file` instead of stdout")
	typ := fs.String("type", "auto", "trace `type`: auto, mooncake, azure, burstgpt or sharegpt")
	lenient := fs.Bool("lenient", false, "skip bad rows and report how many instead of failing")
	var tf fixtures.Transform
	var sy fixtures.Synthesize
	fs.DurationVar(&tf.Start, "start", 0, "keep rows arriving from this `offset`")
	fs.DurationVar(&tf.End, "end", 0, "keep rows arriving before this `offset` (0: to the end)")
	fs.IntVar(&tf.Limit, "limit", 0, "keep at most `N` rows")
	fs.Float64Var(&tf.Sample, "sample", 0, "keep each row (or session) with `probability` P")
	fs.IntVar(&tf.MaxISL, "max-isl", 0, "drop rows with more than `N` prompt tokens")
	fs.IntVar(&tf.CapISL, "cap-isl", 0, "cut prompts to `N` tokens")
	fs.IntVar(&sy.PrefixRoots, "prefix-roots", 1, "split rows over `K` disjoint copies of the prefix tree")
	fs.Float64Var(&sy.PrefixLen, "prefix-len", 1, "stretch shared prefixes by `F`")
	fs.Float64Var(&sy.PromptLen, "prompt-len", 1, "stretch the unique part of prompts by `G`")
	fs.Float64Var(&sy.Speedup, "speedup", 1, "divide arrival times by `S`")
	fs.Uint64Var(&sy.Seed, "seed", 0, "`seed` for sampling and synthesis")
	file, code, done := oneFile(fs, args, stdout)
	if done {
		return code, nil
	}
	skipped := 0
	src, err := fixtures.OpenTrace(file, fixtures.TraceOptions{
		Format: *typ, Lenient: *lenient, OnSkip: func(error) { skipped++ },
	})
	if err != nil {
		return 1, err
	}
	tf.Trace, tf.Seed = src, sy.Seed
	sy.Trace = tf
	if err := sy.Validate(); err != nil {
		return 2, err
	}
	if err := tf.Validate(); err != nil {
		return 2, err
	}
	n := 0
	var readErr error // a bad trace, as opposed to a failed write
	write := func(w io.Writer) error {
		ew := &errWriter{w: w}
		var err error
		if n, err = fixtures.WriteMooncake(ew, withContext(ctx, sy.Rows())); err != nil {
			if ew.err == nil {
				readErr = err
			}
			return err
		}
		if n == 0 {
			readErr = fmt.Errorf("trace %s has %w left to write (after --start, --end, --limit, --sample and the length filters)", file, fixtures.ErrNoRequests)
			return readErr
		}
		return nil
	}
	if *out == "" {
		err = write(stdout)
	} else {
		var dst string
		if dst, err = synthOutput(file, *out); err != nil {
			return 2, err
		}
		// Through a temporary file renamed on success: a failed or interrupted synth
		// leaves an existing output as it was.
		err = atomicfile.Write(dst, write)
	}
	if readErr != nil {
		return 1, readErr
	}
	if err != nil {
		return 1, err
	}
	if skipped > 0 {
		fmt.Fprintf(stderr, "skipped %d bad rows\n", skipped)
	}
	if *out != "" {
		fmt.Fprintf(stderr, "wrote %d rows to %s\n", n, *out)
	}
	return 0, nil
}

// errWriter remembers whether its writer failed.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

// synthOutput checks that out is not the input file in (by name, symlink or hard link)
// and returns the path to write: out, or what it links to.
func synthOutput(in, out string) (string, error) {
	ist, err := os.Stat(in)
	if err != nil {
		return "", err
	}
	ost, err := os.Stat(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return out, nil // nothing there (or a dangling symlink, replaced)
	case err != nil:
		return "", fmt.Errorf("-o %s: %w", out, err)
	case os.SameFile(ist, ost):
		return "", fmt.Errorf("-o %s is the input trace %s: write to another file", out, in)
	case !ost.Mode().IsRegular():
		return "", fmt.Errorf("-o %s is not a regular file", out)
	}
	// Write what a symlink points to rather than replacing the link.
	return filepath.EvalSymlinks(out)
}

// ctxWorkload stops a workload's requests with the context's error once it is done.
type ctxWorkload struct {
	fixtures.Workload
	ctx context.Context
}

func (w ctxWorkload) Requests() iter.Seq2[fixtures.Request, error] {
	return func(yield func(fixtures.Request, error) bool) {
		for r, err := range w.Workload.Requests() {
			if err == nil && w.ctx.Err() != nil {
				err = w.ctx.Err()
			}
			if !yield(r, err) || err != nil {
				return
			}
		}
	}
}

// withContext stops a row stream with the context's error once it is done.
func withContext(ctx context.Context, rows iter.Seq2[fixtures.TraceRow, error]) iter.Seq2[fixtures.TraceRow, error] {
	return func(yield func(fixtures.TraceRow, error) bool) {
		n := 0
		for r, err := range rows {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				yield(fixtures.TraceRow{}, ctx.Err())
				return
			}
			if !yield(r, err) || err != nil {
				return
			}
		}
	}
}

func writeStatsText(w io.Writer, o traceStatsOutput) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	s := o.Stats
	fmt.Fprintf(tw, "file\t%s (%s)\n", filepath.Base(o.File), o.Format)
	fmt.Fprintf(tw, "requests\t%d\n", s.Requests)
	if s.Skipped > 0 || s.Failed > 0 {
		fmt.Fprintf(tw, "skipped\t%d bad rows, %d failed requests kept\n", s.Skipped, s.Failed)
	}
	if s.Sessions > 0 {
		fmt.Fprintf(tw, "sessions\t%d\n", s.Sessions)
	}
	fmt.Fprintf(tw, "duration\t%.1f s\n", s.DurationS)
	fmt.Fprintf(tw, "rate\t%.3f req/s\n", s.Rate)
	for _, d := range []struct {
		name string
		d    fixtures.Summary
	}{{"isl", s.ISL}, {"osl", s.OSL}} {
		fmt.Fprintf(tw, "%s\tmean %.1f\tmin %d\tp50 %d\tp90 %d\tp99 %d\tmax %d\n",
			d.name, d.d.Mean, d.d.Min, d.d.P50, d.d.P90, d.d.P99, d.d.Max)
	}
	if !s.HasPrefixes {
		fmt.Fprintf(tw, "prefix hit ratio\tn/a (the trace has no prefix information)\n")
	} else {
		fmt.Fprintf(tw, "prefix hit ratio\t%.3f\t(unlimited cache: %d blocks of %d tokens)\n", s.PrefixHitRatio, s.UniqueBlocks, s.BlockSize)
		if s.CacheBlocks > 0 {
			fmt.Fprintf(tw, "prefix hit ratio\t%.3f\t(LRU cache of %d blocks)\n", s.LRUHitRatio, s.CacheBlocks)
		}
	}
	return tw.Flush()
}
