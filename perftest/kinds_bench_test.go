package perftest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/perfgate/perfgate/fixtures"
)

// kindedStreams are streams of n tokens of the kinds the client classifies, as vLLM sends
// them: a reasoning model's chat answer (half reasoning in delta.reasoning, then text), a
// tool call (the call's name, then its arguments in pieces), and a reasoning model's
// Responses API answer.
var kindedStreams = []struct {
	name string
	api  API
	body func(n int) []byte
}{
	{"chat-reasoning", Chat, func(n int) []byte {
		var b bytes.Buffer
		for i := range n {
			field := "reasoning"
			if i >= n/2 {
				field = "content"
			}
			fmt.Fprintf(&b, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{%q:\" so\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n", field)
		}
		fmt.Fprintf(&b, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":512,\"completion_tokens\":%d,\"completion_tokens_details\":{\"reasoning_tokens\":%d}}}\n\ndata: [DONE]\n\n", n, n/2)
		return b.Bytes()
	}},
	{"chat-tool-call", Chat, func(n int) []byte {
		var b bytes.Buffer
		b.WriteString(`data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"tool_calls":[{"id":"chatcmpl-tool-1","type":"function","index":0,"function":{"name":"get_weather"}}]},"finish_reason":null}]}` + "\n\n")
		for range n {
			b.WriteString(`data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"ci"}}]},"finish_reason":null}]}` + "\n\n")
		}
		fmt.Fprintf(&b, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":512,\"completion_tokens\":%d}}\n\ndata: [DONE]\n\n", n)
		return b.Bytes()
	}},
	{"responses-reasoning", Responses, func(n int) []byte {
		var b bytes.Buffer
		b.WriteString("event: response.created\ndata: {\"response\":{\"id\":\"resp_1\",\"usage\":null},\"sequence_number\":0,\"type\":\"response.created\"}\n\n")
		for i := range n {
			typ := "response.reasoning_text.delta"
			if i >= n/2 {
				typ = "response.output_text.delta"
			}
			fmt.Fprintf(&b, "event: %s\ndata: {\"content_index\":0,\"delta\":\" so\",\"item_id\":\"msg_1\",\"output_index\":0,\"sequence_number\":%d,\"type\":%q}\n\n", typ, i+1, typ)
		}
		fmt.Fprintf(&b, "event: response.completed\ndata: {\"response\":{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":512,\"output_tokens\":%d,\"output_tokens_details\":{\"reasoning_tokens\":%d}}},\"sequence_number\":%d,\"type\":\"response.completed\"}\n\n", n, n/2, n+1)
		return b.Bytes()
	}},
}

// streamOnce makes one request of n tokens against an in-memory server answering body.
func streamOnce(tb testing.TB, api API, body []byte, n int) func() {
	cl := newClient("http://mem", "m", Case{API: api, Load: Concurrency(1)})
	cl.http.Transport = memTransport{body}
	req := fixtures.Request{Text: "x", OutputTokens: n, InputTokens: 1}
	return func() {
		var rec Record
		cl.do(context.Background(), &req, nil, time.Now(), &rec)
		if rec.Outcome != OK || rec.OutputTokens != n {
			tb.Fatalf("%s: %d of %d tokens, %s", rec.Outcome, rec.OutputTokens, n, rec.Error)
		}
	}
}

// TestClientAllocsDoNotGrowWithTokens: a request's allocations are the same at 512 tokens
// and at 2048, whatever the tokens' kinds: the stream's hot path allocates nothing per
// token (BenchmarkClientStreamKinds measures it). Both sizes make runs of kinds of 100
// tokens or more: the run-length Kinds string costs one more allocation for a run of three
// digits than for one of two (strconv.Itoa), a cost per run of kinds, not per token (64 and
// 128 tokens of reasoning then answer took 83 allocations, 256 to 3,000 took 87).
func TestClientAllocsDoNotGrowWithTokens(t *testing.T) {
	if RaceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	for _, s := range kindedStreams {
		short := testing.AllocsPerRun(20, streamOnce(t, s.api, s.body(512), 512))
		long := testing.AllocsPerRun(20, streamOnce(t, s.api, s.body(2048), 2048))
		// A sync.Pool emptied by a GC may cost one more: 1,536 more tokens may not.
		assert.InDelta(t, short, long, 1, "%s: allocations a request at 512 and 2048 tokens", s.name)
	}
}

// BenchmarkClientStreamKinds is BenchmarkClientStream on reasoning, tool-call and Responses
// streams: allocs/op must not grow with the tokens.
//
//	go test -run '^$' -bench BenchmarkClientStreamKinds -benchmem ./perftest
func BenchmarkClientStreamKinds(b *testing.B) {
	for _, s := range kindedStreams {
		for _, n := range []int{512, 2048} {
			b.Run(fmt.Sprintf("%s/tokens=%d", s.name, n), func(b *testing.B) {
				do := streamOnce(b, s.api, s.body(n), n)
				b.ReportAllocs()
				for b.Loop() {
					do()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/token")
			})
		}
	}
}
