package dynamo

import "github.com/perfgate/perfgate/backends"

// request is what the Dynamo frontend needs beyond perftest's body: nothing. It takes
// min_tokens and ignore_eos at the top level (its common extensions, beside the deprecated
// nvext object), and stream_options and temperature as OpenAI's request declares them
// (lib/llm/src/protocols/openai, 1.2.1). The frontend answers 400 "Unsupported
// parameter(s)" to fields it does not know; that list (async-openai's requests plus
// Dynamo's extensions) is not kept here, so a bad Case.Extra field fails every request with
// the frontend's message instead of before the first. No spelling of reasoning on or off
// is known for the frontend here, so a reasoning request carries perftest's own (OpenAI's
// effort fields) and nothing for on and off.
var request = backends.Request{}
