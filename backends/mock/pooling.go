package mock

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// poolRequest is an embeddings, score or rerank request: its inputs, each a sequence the
// engine prefills and nothing more.
type poolRequest struct {
	inputs [][]int
	docs   []string // rerank: the documents, echoed in the results
	topN   int      // rerank: how many results (0: all)
	base64 bool     // embeddings: encoding_format "base64"
	dims   int      // embeddings: the vector's length
}

type wirePooling struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
	Text1          json.RawMessage `json:"text_1"`
	Text2          json.RawMessage `json:"text_2"`
	Query          *string         `json:"query"`
	Documents      []string        `json:"documents"`
	TopN           int             `json:"top_n"`
}

// decodePooling reads an embeddings (vLLM's /v1/embeddings: input is a string, a list of
// strings, a list of token ids or a list of them), score (/score: text_1 against text_2,
// 1:1, 1:N or N:N) or rerank request (/rerank: query against documents, top_n).
func decodePooling(body []byte, api apiKind, cfg *Config) (apiRequest, *apiError) {
	var w wirePooling
	if err := json.Unmarshal(body, &w); err != nil {
		return apiRequest{}, badRequest("invalid JSON body: %v", err)
	}
	if err := checkModel(w.Model, cfg.Model); err != nil {
		return apiRequest{}, err
	}
	r := apiRequest{api: api, model: cfg.Model}
	p := &r.pool
	var err *apiError
	switch api {
	case apiEmbeddings:
		p.inputs, err = embeddingInputs(w.Input)
		p.base64 = w.EncodingFormat == "base64"
		p.dims = cfg.EmbeddingDim
		if d := w.Dimensions; d != nil {
			if *d < 1 || *d > cfg.EmbeddingDim {
				return apiRequest{}, badRequest("dimensions must be in [1, %d], got %d", cfg.EmbeddingDim, *d)
			}
			p.dims = *d
		}
	case apiScore:
		var a, b []string
		if a, err = stringOrList(w.Text1, "text_1"); err == nil {
			b, err = stringOrList(w.Text2, "text_2")
		}
		if err == nil && len(a) == 1 {
			a = slices.Repeat(a, len(b))
		}
		if err == nil && len(a) != len(b) {
			err = badRequest("Input lengths must be either 1:1, 1:N or N:N")
		}
		if err == nil {
			p.inputs = pairTokens(a, b)
		}
	case apiRerank:
		if w.Query == nil || len(w.Documents) == 0 {
			return apiRequest{}, badRequest("rerank needs a query and documents")
		}
		p.docs, p.topN = w.Documents, w.TopN
		p.inputs = pairTokens(slices.Repeat([]string{*w.Query}, len(w.Documents)), w.Documents)
	}
	if err != nil {
		return apiRequest{}, err
	}
	for i, in := range p.inputs {
		if len(in) == 0 {
			return apiRequest{}, badRequest("input %d is empty", i)
		}
		if len(in) > cfg.MaxModelLen {
			return apiRequest{}, badRequest("This model's maximum context length is %d tokens. However, you requested %d tokens in the input for embedding generation. Please reduce the length of the input.", cfg.MaxModelLen, len(in))
		}
	}
	return r, nil
}

// embeddingInputs reads an embeddings input into token lists.
func embeddingInputs(raw json.RawMessage) ([][]int, *apiError) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, badRequest("input is required")
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return [][]int{textTokens(nil, one)}, nil
	}
	var ids []int
	if json.Unmarshal(raw, &ids) == nil && len(ids) > 0 {
		return [][]int{ids}, nil
	}
	var texts []string
	if json.Unmarshal(raw, &texts) == nil && len(texts) > 0 {
		out := make([][]int, len(texts))
		for i, t := range texts {
			out[i] = textTokens(nil, t)
		}
		return out, nil
	}
	var batch [][]int
	if err := json.Unmarshal(raw, &batch); err != nil || len(batch) == 0 {
		return nil, badRequest("input must be a string, a list of strings, a list of token ids or a list of them")
	}
	for _, b := range batch {
		if slices.ContainsFunc(b, func(t int) bool { return t < 0 }) {
			return nil, badRequest("token ids must be >= 0")
		}
	}
	return batch, nil
}

func stringOrList(raw json.RawMessage, name string) ([]string, *apiError) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		return nil, badRequest("%s must be a string or a list of strings", name)
	}
	return list, nil
}

// pairTokens are a cross-encoder's inputs: each query, a separator, its document, an end.
func pairTokens(queries, docs []string) [][]int {
	out := make([][]int, len(docs))
	for i := range docs {
		t := append(textTokens(nil, queries[i]), tokEnd)
		out[i] = append(textTokens(t, docs[i]), tokEnd)
	}
	return out
}

// servePool runs a pooling request's inputs on this server's engine, one sequence each,
// and answers when the last one is prefilled.
func (s *Server) servePool(w http.ResponseWriter, r *http.Request, req apiRequest) {
	if s.drawFaults().fail {
		writeError(w, &apiError{http.StatusInternalServerError, "InternalServerError", "injected fault"})
		return
	}
	in := req.pool.inputs
	done := make(chan struct{}, len(in))
	qs := make([]*seq, len(in))
	s.mu.Lock()
	s.reqID++
	id := s.reqID
	for i, toks := range in {
		q := newSeq(toks, 0, s.eng.bs)
		q.pool, q.quiet, q.notify = true, true, done
		qs[i] = q
		s.eng.add(q, time.Since(s.created)) // decodePooling checked what add checks
	}
	s.wake.Signal()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		for _, q := range qs {
			s.eng.cancel(q, time.Since(s.created))
		}
		s.wake.Signal()
		s.mu.Unlock()
	}()
	for range in {
		select {
		case <-done:
		case <-r.Context().Done():
			return
		case <-s.quit:
			return
		}
	}
	writePooled(w, &req, id, s.created.Unix())
}

// writePooled writes the answer to a pooling request whose inputs are all done.
func writePooled(w http.ResponseWriter, req *apiRequest, id uint64, created int64) {
	p := &req.pool
	prompt := 0
	for _, in := range p.inputs {
		prompt += len(in)
	}
	u := map[string]any{"prompt_tokens": prompt, "total_tokens": prompt, "completion_tokens": 0, "prompt_tokens_details": nil}
	sid := strconv.FormatUint(id, 10)
	var body any
	switch req.api {
	case apiEmbeddings:
		data := make([]any, len(p.inputs))
		for i, in := range p.inputs {
			data[i] = map[string]any{"index": i, "object": "embedding", "embedding": embedding(in, p.dims, p.base64)}
		}
		body = map[string]any{"id": "embd-" + sid, "object": "list", "created": created, "model": req.model, "data": data, "usage": u}
	case apiScore:
		data := make([]any, len(p.inputs))
		for i, in := range p.inputs {
			data[i] = map[string]any{"index": i, "object": "score", "score": score(in)}
		}
		body = map[string]any{"id": "score-" + sid, "object": "list", "created": created, "model": req.model, "data": data, "usage": u}
	default:
		type result struct {
			Index    int               `json:"index"`
			Document map[string]string `json:"document"`
			Score    float64           `json:"relevance_score"`
		}
		res := make([]result, len(p.inputs))
		for i, in := range p.inputs {
			res[i] = result{i, map[string]string{"text": p.docs[i]}, score(in)}
		}
		slices.SortStableFunc(res, func(a, b result) int { return cmp.Compare(b.Score, a.Score) })
		if p.topN > 0 && p.topN < len(res) {
			res = res[:p.topN]
		}
		body = map[string]any{"id": "rerank-" + sid, "model": req.model, "usage": map[string]int{"total_tokens": prompt}, "results": res}
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// embedding is a deterministic unit vector of dims for the input tokens: float32 values,
// or their little-endian bytes in base64.
func embedding(tokens []int, dims int, b64 bool) any {
	rng := rand.New(rand.NewPCG(hashBlock(hashSeed, tokens), uint64(dims)))
	v := make([]float32, dims)
	norm := 0.0
	for i := range v {
		x := rng.NormFloat64()
		v[i] = float32(x)
		norm += x * x
	}
	norm = math.Sqrt(norm)
	for i := range v {
		v[i] = float32(float64(v[i]) / norm)
	}
	if !b64 {
		return v
	}
	buf := make([]byte, 4*dims)
	for i, x := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(buf)
}

// score is a deterministic relevance in (0, 1) for a pair's tokens.
func score(tokens []int) float64 {
	h := hashBlock(hashSeed, tokens)
	return (float64(h>>11) + 0.5) / (1 << 53)
}
