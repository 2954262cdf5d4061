package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"path/filepath"
	"text/tabwriter"

	"github.com/perfgate/perfgate/fixtures"
)

func init() {
	register(command{
		name:    "trace",
		summary: "inspect request traces (Mooncake, Azure, BurstGPT, ShareGPT)",
		run:     runTrace,
	})
}

const traceUsage = `Usage:

	perfgate trace stats FILE [--format text|json] [--cache-blocks N] [--type T] [--lenient]

Subcommands:

	stats    requests, duration, rate, ISL/OSL percentiles and the prefix hit ratio a cache
	         would see (unlimited, and an LRU of --cache-blocks blocks of 512 tokens)
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
	fs := flag.NewFlagSet("trace stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "text", "output `format`: text or json")
	cacheBlocks := fs.Int("cache-blocks", 0, "also report the hit ratio of an LRU cache of `N` blocks")
	typ := fs.String("type", "auto", "trace `type`: auto, mooncake, azure, burstgpt or sharegpt")
	lenient := fs.Bool("lenient", false, "skip bad rows and report how many instead of failing")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: perfgate trace stats FILE [flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	// Flags may come before or after FILE.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0, nil
			}
			return 2, nil
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) != 1 {
		fs.Usage()
		return 2, nil
	}
	if *format != "text" && *format != "json" {
		return 2, fmt.Errorf("--format must be text or json, got %q", *format)
	}
	path := files[0]
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
	st, err := fixtures.TraceStats(withContext(ctx, tr.Rows()), fixtures.StatsOptions{CacheBlocks: *cacheBlocks})
	if err != nil {
		return 1, err
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
