package api

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/perfgate/perfgate/fixtures"
	"github.com/perfgate/perfgate/perftest/internal/sse"
)

// embeddingFields is an embeddings request: the request's inputs as one batch (or its
// prompt as one input: text, or token ids, which vLLM and SGLang take as they are), as
// floats, OpenAI's default encoding.
func embeddingFields(model string, req *fixtures.Request) (map[string]any, error) {
	if err := poolingRefuses(req, "embeddings"); err != nil {
		return nil, err
	}
	var input any
	switch {
	case len(req.Inputs) > 0:
		input = req.Inputs
	case len(req.Tokens) > 0 && req.Text == "":
		input = req.Tokens
	case req.Text != "":
		input = []string{req.Text}
	default:
		return nil, fmt.Errorf("request %d has no inputs to embed", req.Index)
	}
	return map[string]any{"model": model, "input": input, "encoding_format": "float"}, nil
}

// rerankFields is a rerank request: the documents scored against the query (vLLM's
// RerankRequest, SGLang's V1RerankReqInput, llama.cpp's /v1/rerank take the same three
// fields).
func rerankFields(model string, req *fixtures.Request) (map[string]any, error) {
	if err := poolingRefuses(req, "rerank"); err != nil {
		return nil, err
	}
	if req.Query == "" || len(req.Documents) == 0 {
		return nil, fmt.Errorf("request %d: a rerank request needs a query and documents (fixtures.Request.Query, Documents)", req.Index)
	}
	return map[string]any{"model": model, "query": req.Query, "documents": req.Documents}, nil
}

// poolingRefuses says why a pooling API cannot carry req: it generates nothing.
func poolingRefuses(req *fixtures.Request, api string) error {
	if req.Reasoning != "" || len(req.Tools) > 0 || len(req.Schema) > 0 || len(req.Messages) > 0 {
		return fmt.Errorf("request %d asks for a conversation, reasoning, tools or a schema, which the %s API cannot carry (it generates nothing)", req.Index, api)
	}
	return nil
}

// WantResults is how many results a pooling request should get back: one embedding per
// input, one score per document (0: the API says nothing of it).
func (a *API) WantResults(req *fixtures.Request) int {
	switch a {
	case Embeddings:
		if len(req.Inputs) > 0 {
			return len(req.Inputs)
		}
		return 1
	case Rerank:
		return len(req.Documents)
	}
	return 0
}

// maxAnswer bounds a pooling answer: a batch of embeddings is megabytes of numbers.
const maxAnswer = 256 << 20

// errAnswerTooLarge is returned for a pooling answer over maxAnswer.
var errAnswerTooLarge = errors.New("answer larger than 256 MiB")

// pooledStream reads a pooling answer: one JSON body, one Done event.
type pooledStream struct {
	r      io.Reader
	buf    []byte
	done   bool
	parsed sse.Usage
}

func newPooledStream() Stream { return &pooledStream{} }

func (s *pooledStream) Reset(r io.Reader) { s.r, s.done, s.buf = r, false, s.buf[:0] }

// Next returns the answer as one event at the time its last byte arrived, then io.EOF. A
// body cut short returns the reader's error.
func (s *pooledStream) Next() (Event, error) {
	if s.done {
		return Event{}, io.EOF
	}
	s.done = true
	var err error
	if s.buf, err = readAll(s.buf[:0], s.r); err != nil {
		return Event{}, err
	}
	out := Event{Kind: Done, At: time.Now(), Data: s.buf}
	p := sse.ParsePooled(s.buf)
	switch p.Kind {
	case sse.DoneChunk:
		out.Results = p.Results
		out.Usage, out.UsageErr = parseUsage(p.Usage, &s.parsed)
	case sse.ErrorChunk:
		out.Kind = Failed
	default:
		out.Kind = Malformed
	}
	return out, nil
}

// readAll appends what r holds to buf, up to maxAnswer.
func readAll(buf []byte, r io.Reader) ([]byte, error) {
	buf, err := readFrom(buf, io.LimitReader(r, maxAnswer+1))
	if err == nil && len(buf) > maxAnswer {
		return buf, errAnswerTooLarge
	}
	return buf, err
}

func readFrom(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
