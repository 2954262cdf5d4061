// Package report turns a folder of perfgate results (what -perf.out, `perfgate run`,
// `perfgate ab` and -perf.history leave behind) into the two files people read: report.md,
// the verdict first and then the gate's comparison tables, for a pull-request comment and
// $GITHUB_STEP_SUMMARY; and report.html, one self-contained page with the plots a table
// cannot show.
//
// Load reads the folder:
//
//	NAME.txt                 a case's result file (Go benchmark format)
//	NAME.records.jsonl       its per-request records (one JSON line per request, "rep"
//	                         numbering repetitions from 1)
//	NAME.server.jsonl        the server's gauges sampled every 250 ms (perftest writes it
//	                         whenever it read the server's metrics),
//	                         repetitions numbered from 1 as in the records:
//	                         {"rep": 1, "t_ns": 1500000000, "waiting": 3, "kv-usage": 0.41}
//	NAME.baseline.txt        the baseline the case is compared with, when present beside it
//	CASE_LOAD.txt            a sweep: results whose names are CASE/LOAD (perftest.Sweep)
//	NAME.A.txt, NAME.B.txt   an A/B run (perftest.AB, perfgate ab): B compared with A
//	*.history.jsonl          history files (-perf.history), at any depth
//
// and, with Options, baselines from a baselines folder (ROOT/<hardware class>/NAME.txt, as
// perftest.BaselinePath lays them out, or ROOT/NAME.txt) and history files from a history
// folder. Comparisons are the gate's own (gate.Compare with perftest.GateOptions, for the
// vocabulary of metrics Options.Metrics names), so the report says what the gate said; GPU telemetry (package machine's gpu-* metrics) is shown
// and never gated, and a regression measured across a repetition in which a GPU throttled
// is reported as inconclusive, not as a regression (unless the GPU was held back the same
// way in every repetition of both sides, as one running at its power cap all along: that
// is the setup, not noise).
//
// Write writes report.md (WriteMarkdown: each comparison is gate.Report.WriteMarkdown, the
// same text -perf.summary appends) and report.html (WriteHTML). The page has, per case,
// the comparison table with verdicts and MDE, the baseline and current values of every
// gated metric across repetitions (strip plots; the speculative-decoding figures among
// them when the server drafted), a timeline of one repetition (each request's TTFT, and its
// time to first output token when it reasoned first, and each inter-token gap against
// time, the gaps before reasoning tokens apart from those before output tokens, requests
// in flight, and the server's queue and KV-cache usage where recorded) and the GPU
// telemetry; per sweep,
// TTFT and ITL p50/p99 and throughput against load and the pareto front of output tokens/s
// per GPU against tokens/s per user; per history, every metric over the runs with the
// change points marked. The page loads nothing: plots are inline SVG (package plot, through
// gonum/plot), styles inline, no script, and a Content-Security-Policy that forbids any
// request; it reads on a phone and prints.
package report
