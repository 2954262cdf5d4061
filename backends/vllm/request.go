package vllm

import "github.com/perfgate/perfgate/backends"

// request is what vLLM needs beyond perftest's body: nothing. perftest's default body is
// vLLM's own dialect, checked against v0.32.0's protocol: max_tokens, min_tokens and
// ignore_eos (its sampling parameters, top level), stream_options.include_usage,
// temperature; llm-d-inference-sim takes the same. vLLM logs and ignores fields it does not
// know, so nothing is refused before sending.
var request = backends.Request{}
