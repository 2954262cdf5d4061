package llamacpp

import "github.com/perfgate/perfgate/backends"

// request is what llama-server reads of perftest's body, checked against
// tools/server/server-task.cpp (params_from_json_cmpl) and run at 82bb485: it reads model
// (in its router mode), prompt or messages, max_tokens, ignore_eos (which it turns into a
// bias against end-of-generation tokens), stream, stream_options.include_usage and
// temperature, and never min_tokens, so the module does not send it. It ignores fields it
// does not know.
var request = backends.Request{
	Fields: map[string]map[string]any{
		"completions": {"min_tokens": nil},
		"chat":        {"min_tokens": nil},
	},
}
