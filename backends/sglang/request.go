package sglang

import "github.com/perfgate/perfgate/backends"

// request is what SGLang needs beyond perftest's body: nothing. CompletionRequest and
// ChatCompletionRequest of v0.5.21 (python/sglang/srt/entrypoints/openai/protocol.py)
// declare every field perftest sends, min_tokens and ignore_eos among their extra
// parameters, and ignore fields they do not declare.
var request = backends.Request{}
