// Package mock is a simulated LLM inference server: an iteration-level engine with a paged
// KV cache and automatic prefix caching, timed by a step-time profile, behind vLLM's
// OpenAI-compatible HTTP surface and Prometheus metrics. It needs no GPU and no Docker, so
// perf cases run against it on any CI machine and still react the way a real engine does to
// batching, queueing and KV-prefix reuse.
//
// # Three ways to run it
//
// In a test, [Start] serves on 127.0.0.1 and stops when the test ends:
//
//	srv := mock.Start(t, mock.Config{Model: "sim-llama-8b"})
//	res := perftest.Run(t, perftest.Case{Target: srv, ...})
//
// As a command, `perfgate mock` takes vLLM's launch flags (a vLLM launch line works
// unchanged; flags the simulator does not model are accepted with a warning), and
// `perfgate mock replay --trace FILE` replays a Mooncake trace offline. [New] and
// [Server.Serve] are what the command uses. Offline, [Replay] runs requests on a virtual
// clock: an hour of trace simulates in about a second, deterministically.
//
// # Engine
//
// One loop, as vLLM's scheduler: each step first gives one token of budget to every
// running sequence that is decoding, then spends the rest of the step's token budget
// (MaxNumBatchedTokens) on prefill chunks of running sequences, then admits waiting
// requests in FIFO order while the running set is below MaxNumSeqs and their KV blocks fit
// (no admission in a step that had to preempt). When a running sequence needs a block and
// none is free, the most recently admitted sequence not yet scheduled in the step is
// preempted: its blocks are freed and it goes back to the head of the queue, to recompute
// prompt and output so far. A sequence emits a token at the end of the step in which its
// KV catches up with its tokens: the step that completes its prefill gives the first token.
// Every request generates exactly max_tokens tokens (as with ignore_eos): the simulator has
// no end-of-sequence token. Without max_tokens, completions generate 16 tokens (vLLM's
// default) and chat completions up to 1024.
//
// Prefix cache: blocks of BlockSize tokens; every full prompt block has a hash chained over
// its parent's, and enters the cache once its KV is computed. A new request takes the
// longest run of cached leading blocks, at most floor((n-1)/BlockSize)*BlockSize of its n
// prompt tokens (one token is always computed), and only the rest costs prefill time.
// Blocks have reference counts; unreferenced ones stay cached until evicted, least recently
// freed first and, within a request, last block first, so suffixes go before the prefixes
// they share. Blocks of generated tokens are not cached. A cancelled or disconnected
// request frees its blocks at the next step boundary. cached_tokens and the prefix-cache
// counters count a request once, at its first admission.
//
// Step time is prefill(x) + decode(u) from the [Profile] (x: uncached prompt tokens in the
// step; u: KV tokens of the step's sequences over the cache capacity), divided by
// SpeedupRatio, times an optional seeded log-normal noise factor. The default is NVIDIA
// Dynamo's mocker polynomial; [LinearProfile] and JSON profile files ([LoadProfile]) are
// the alternatives, and [Profile.Scaled] injects a regression. On the real clock each step
// starts when the previous one was due to end, so timer lateness does not accumulate.
//
// # HTTP
//
// POST /v1/completions takes "prompt" as a list of token ids, a string, or a list of one of
// them; POST /v1/chat/completions takes "messages" (string content or parts: text, and
// image_url with a data URL); POST /v1/responses takes the Responses API's input (a
// string or items: messages with input_text and input_image parts, function calls and
// their outputs) and instructions. Text becomes one token per whitespace-separated word,
// its id a hash of the word, so equal text prefixes share cache blocks; chat adds a role
// token per message, an end token after each, and an assistant token at the end; tools
// offered are rendered before the conversation, one token per 4 bytes of their JSON. model,
// max_tokens (max_completion_tokens for chat, max_output_tokens for responses),
// min_tokens, stream, stream_options.include_usage and .continuous_usage_stats are read,
// with the fields of the features below; other fields (ignore_eos, temperature, ...) are
// accepted and ignored. Streams are vLLM's: one "data: {json}\n\n" event per token, written
// and flushed when the engine emits it (the first chat chunk carries the role; the last
// token's chunk has the finish reason), usage on every chunk with continuous_usage_stats,
// then with include_usage a chunk with "choices": [] and usage including
// prompt_tokens_details.cached_tokens, then "data: [DONE]". The Responses API streams
// vLLM's "event: TYPE\ndata: {json}" events instead, from response.created to
// response.completed (with usage). Every generated token's text is " tok", but for the few
// that open and close a JSON answer. Bad requests get an OpenAI-style {"error": {"message",
// "type", "code"}} with 400 (malformed JSON, max_tokens <= 0, prompt plus max_tokens over
// MaxModelLen, ...), 404 (unknown model), 405 or 413 (body over MaxBodyBytes).
//
// GET /v1/models lists the model; GET /health answers 503 until StartupDelay has passed
// (the API answers 503 meanwhile too), then 200. GET /metrics serves Prometheus text with
// vLLM's names, labelled model_name: vllm:num_requests_running, vllm:num_requests_waiting,
// vllm:kv_cache_usage_perc, vllm:prefix_cache_queries_total, vllm:prefix_cache_hits_total,
// vllm:prompt_tokens_total, vllm:generation_tokens_total, vllm:request_success_total
// (finished_reason), vllm:num_preemptions_total, vllm:mm_cache_queries_total and
// vllm:mm_cache_hits_total (images, counted per item), and the histograms
// vllm:time_to_first_token_seconds, vllm:inter_token_latency_seconds (one observation per
// step a request emits in), vllm:e2e_request_latency_seconds,
// vllm:request_queue_time_seconds, and, at each request's finish,
// vllm:request_prefill_time_seconds, vllm:request_decode_time_seconds and
// vllm:request_inference_time_seconds, all timed on the engine's clock; with speculative
// decoding, vllm:spec_decode_num_drafts_total, vllm:spec_decode_num_draft_tokens_total,
// vllm:spec_decode_num_accepted_tokens_total and
// vllm:spec_decode_num_accepted_tokens_per_pos_total{position}.
//
// Per request, the simulator tells its phases the ways engines do, from the same truth
// (Config.KeepTimings keeps it, [Server.Timings] returns it): with
// Config.OTLPTracesEndpoint (vLLM's --otlp-traces-endpoint), vLLM's llm_request span of
// every request over OTLP/HTTP, continuing the traceparent it came with (traces.go); with
// Dialect.Timings (--timings), llama.cpp's timings object on the last chunk of a stream.
//
// # Beyond text
//
// Each of these is off until its Config field (or vLLM's flag, on `perfgate mock`) turns it
// on, and a request that asks for none of them is served exactly as before. Shapes are
// vLLM's (checked against its source, 2026-12: the chat serving's stream generator and
// DeltaMessage, the Responses API's simple streaming events, the pooling routers and
// protocol, vllm/v1/spec_decode/metrics.py).
//
//   - Reasoning ([Reasoning], --reasoning-parser): a chat or Responses answer starts with
//     reasoning tokens (Fraction of max_tokens, or Tokens), streamed in delta.reasoning
//     (vLLM) or delta.reasoning_content (Dialect.ReasoningField: SGLang, llama.cpp,
//     DeepSeek), in response.reasoning_text.delta events on the Responses API. Usage's
//     completion_tokens counts them and completion_tokens_details.reasoning_tokens says how
//     many. A request turns thinking on or off with chat_template_kwargs.enable_thinking
//     (or .thinking), reasoning_effort ("none": off) or, on the Responses API,
//     reasoning.effort; include_reasoning false generates the reasoning and sends none.
//   - Tool calls ([Tools], --enable-auto-tool-choice --tool-call-parser): with tools
//     offered and tool_choice "required", a named function, or "auto" (which needs both
//     flags, as in vLLM; AutoTextRate answers that share of them in text, the same way for
//     the same request), the answer is a call: delta.tool_calls[{id, type, index,
//     function{name}}] first, then the arguments in pieces that join into a JSON object,
//     finish_reason "tool_calls" ("stop" for a named function); response.output_item.added
//     and response.function_call_arguments.delta on the Responses API.
//   - Structured output ([StructuredOutput]): response_format json_schema or json_object,
//     vLLM's structured_outputs, or the Responses API's text.format give a JSON object of
//     exactly max_tokens tokens (keyed by the schema's first required property),
//     finish_reason "stop". Every step that samples a token under a grammar costs TokenMS
//     more per such sequence; a schema not seen before costs CompileMS once.
//   - Images ([Multimodal], --limit-mm-per-prompt): an image_url part with a data URL of a
//     PNG, JPEG or GIF takes [ImageTokens] prompt tokens (Qwen2-VL's rule: one per 28×28
//     tile after resizing), charged to prefill and reported in prompt_tokens and
//     prompt_tokens_details.multimodal_tokens; the vision encoder costs EncoderMS plus
//     EncoderTokenMS per token, once: the same image bytes again hit the encoder cache. More
//     images than the limit get vLLM's "At most N image(s) may be provided in one prompt."
//   - Pooling (Runner RunnerPooling, --runner pooling): /v1/embeddings (a batch of inputs,
//     float or base64 vectors of EmbeddingDim), /score and /v1/score (text_1 against
//     text_2), /rerank, /v1/rerank and /v2/rerank (query against documents, top_n), each
//     input a sequence that is prefilled and done, answered when the last is. A generate
//     model answers these routes, and a pooling model the generation routes, with vLLM's
//     "The model does not support ... API".
//   - Speculative decoding ([Speculative], --speculative-config): each decode step drafts
//     up to k tokens per sequence, accepted position by position with the request's own
//     PRNG (vLLM's synthetic_acceptance_rates or _length, or the simulator's
//     acceptance_rate: the accepted / draft tokens that vLLM's counters will show), and
//     emits 1 + accepted tokens in one chunk (usage with continuous_usage_stats counts
//     them); the step costs DraftCost of a decode step more per draft token.
//
// Knobs that make a regression to catch: Reasoning.Slowdown makes reasoning tokens slower
// (--reasoning-slowdown 1.2: 20% slower each); Speculative.AcceptanceRate sets acceptance
// (--speculative-config '{"method": "eagle3", "num_speculative_tokens": 3,
// "acceptance_rate": 0.5}' against 0.7); StructuredOutput.TokenMS and Multimodal.EncoderMS
// slow the grammar and the encoder. For example:
//
//	base := mock.Config{Reasoning: mock.Reasoning{Parser: "qwen3"},
//		Speculative: mock.Speculative{Method: "eagle3", NumSpeculativeTokens: 3, AcceptanceRate: 0.7}}
//	slow := base
//	slow.Reasoning.Slowdown = 1.2        // every reasoning token 20% slower
//	slow.Speculative.AcceptanceRate = 0.5 // fewer draft tokens accepted per step
//
// [Faults] inject HTTP 500s, connections cut mid-stream, stalled streams, malformed events
// and a slow start, each drawn per request from Config.Seed.
//
// # Cluster
//
// [StartCluster] (in tests) and [NewCluster] serve Workers engines behind one router on
// one URL, as Dynamo's frontend does: each worker is the engine above with its own KV
// cache, queue and metrics; the router picks a worker per request by a [RouterPolicy]
// (round robin, random, least loaded, or KV-aware with Dynamo's cost: prefill blocks after
// the worker's cached prefix, weighted against the blocks its requests in flight hold, with
// a softmax temperature; see [RouterConfig]). The KV router never looks into a worker's
// memory: each worker publishes a KV event when a prompt block enters its prefix cache and
// when one leaves it, and the router builds its index of who caches what from those
// events alone. /metrics serves every worker's series labelled worker="i" and the router's
// (perfgate_router_requests_total, perfgate_router_overlap_blocks_total,
// perfgate_router_active_blocks, perfgate_router_kv_events_total, ...).
// [ReplayCluster] runs a cluster on the virtual clock, open or closed loop; `perfgate mock
// --workers N --router kv` serves one and `perfgate mock replay --workers N --router
// kv,round-robin` compares policies on a trace.
//
// # Benchmarks
//
// Measured on the 2-core development box (AMD EPYC, shared with other jobs: figures vary
// by about 20% with its load), Go 1.26:
//
//	go test -run XXX -bench . -benchtime 2s -count 2 ./backends/mock
//
//	BenchmarkEngineStep/seqs=256    3843 ns/op   66.6M seq-steps/s   0 B/op  0 allocs/op
//	BenchmarkEngineStep/seqs=1024  17717 ns/op   57.8M seq-steps/s   0 B/op  0 allocs/op
//	BenchmarkSequenceMemory         1573 ns/op   633 live-B/seq    641 B/op  3 allocs/op
//	BenchmarkServeClock          1.66 s/op   0.001 engine-drift-%   1.6-1.8 client-lag-%
//
// The engine schedules about 60 million sequence-steps per second of CPU without
// allocating, and streaming a token allocates nothing either
// (TestStreamTokenDoesNotAllocate), whatever the token is: reasoning, text, a tool call's
// arguments, a Responses delta, with usage on every chunk. With every sequence reasoning
// under a grammar with speculative decoding (3 draft tokens), a step of 256 sequences takes
// about 10 µs of CPU, still without allocating (BenchmarkEngineStep/features): each
// sequence emits about 3 tokens per step, and sequences come and go three times as often. A queued request costs about 640 bytes (a 512-token
// prompt, 128 output tokens; prompts are kept only as block hashes). With 1,000 concurrent
// streaming requests at speedup 10 (prompt 128, output 512, a 1.38 s makespan) the engine's
// real-clock makespan matches the profile's prediction for the same arrivals to 0.001%, and
// the benchmark's own client, sharing the two cores with the 1,000 server streams, sees the
// last token 1.6-1.8% of the makespan later (up to 17% while other jobs loaded the box).
//
// Replaying ../shared/traces/conversation_trace.jsonl (12,031 requests, 145M prompt
// tokens) with an unlimited cache gives a 37.34% prefix hit ratio at block size 512 and
// 37.36% at 16, in 0.7 s and 4.3 s; with a 262,144-token cache, 4.3%:
//
//	go test -run TestReplayConversationTrace -v ./backends/mock
//	perfgate mock replay --trace ../shared/traces/conversation_trace.jsonl --unlimited-kv-cache --speedup-ratio 1000
package mock
