package perftest

import (
	"flag"
	"os"
)

// Flags of the gate, with environment fallbacks like those in flags.go.
var (
	flagHardware = flag.String("perf.hardware", os.Getenv("PERFGATE_HARDWARE"), "hardware class recorded with results and used by BaselinePath, instead of the one detected with nvidia-smi (env PERFGATE_HARDWARE)")
	flagHistory  = flag.String("perf.history", os.Getenv("PERFGATE_HISTORY"), "folder of history files: every gated run appends one line to FOLDER/<hardware class>/<case>.history.jsonl (env PERFGATE_HISTORY)")
	flagSummary  = flag.String("perf.summary", os.Getenv("PERFGATE_SUMMARY"), "append each gated case's report as markdown to this file, e.g. $GITHUB_STEP_SUMMARY (env PERFGATE_SUMMARY)")
)
