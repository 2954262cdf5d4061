package otlp

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"sync"
	"time"
)

// Path is where OTLP/HTTP exporters post traces.
const Path = "/v1/traces"

// MaxBody bounds one export request, compressed and decompressed: an exporter's batch is
// at most 512 spans by default, a few hundred kilobytes.
const MaxBody = 16 << 20

// MaxSpans bounds the spans kept between two Resets; more are dropped and counted.
const MaxSpans = 1 << 20

// Receiver is an OTLP/HTTP trace receiver listening on one address.
type Receiver struct {
	ln  net.Listener
	srv *http.Server
	wg  sync.WaitGroup

	mu      sync.Mutex
	spans   map[[16]byte]Span
	arrived chan struct{} // closed and replaced when spans arrive
	stats   Stats
}

// Stats counts what the receiver was sent since it started.
type Stats struct {
	Exports int // export requests accepted
	Kept    int // spans kept (with phase attributes)
	Dropped int // spans dropped over MaxSpans
	// Refused counts export requests refused (bad encoding, too large, undecodable); Last
	// says why the latest one was.
	Refused int
	Last    string
}

// Listen starts a receiver on addr ("127.0.0.1:4318", ":0").
func Listen(addr string) (*Receiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for OTLP traces on %s: %w", addr, err)
	}
	r := &Receiver{ln: ln, spans: map[[16]byte]Span{}, arrived: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Path, r.export)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	r.wg.Go(func() { _ = r.srv.Serve(ln) })
	return r, nil
}

// Addr is the address the receiver listens on.
func (r *Receiver) Addr() string { return r.ln.Addr().String() }

// Close stops the receiver and waits for its handlers and connections: one refused
// before its body was read (too large) lingers half a second in net/http before it is
// closed, and Close waits for that too (at most closeWait), so nothing outlives it.
func (r *Receiver) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeWait)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	if err != nil {
		err = r.srv.Close()
	}
	r.wg.Wait()
	return err
}

// closeWait bounds how long Close waits for connections to end.
const closeWait = 2 * time.Second

// Stats returns the counts so far.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Take removes and returns the span of a trace.
func (r *Receiver) Take(id [16]byte) (Span, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.spans[id]
	delete(r.spans, id)
	return s, ok
}

// Reset drops every span kept.
func (r *Receiver) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.spans)
}

// Wait waits until every trace of ids has a span, ctx ends, or quiet passes without a new
// span arriving (an exporter that sends nothing more); it returns how many have one.
func (r *Receiver) Wait(ctx context.Context, ids [][16]byte, quiet time.Duration) int {
	t := time.NewTimer(quiet)
	defer t.Stop()
	for {
		r.mu.Lock()
		n := 0
		for _, id := range ids {
			if _, ok := r.spans[id]; ok {
				n++
			}
		}
		arrived := r.arrived
		r.mu.Unlock()
		if n == len(ids) {
			return n
		}
		select {
		case <-arrived:
			t.Reset(quiet)
		case <-t.C:
			return n
		case <-ctx.Done():
			return n
		}
	}
}

// export serves one OTLP/HTTP export request.
func (r *Receiver) export(w http.ResponseWriter, req *http.Request) {
	body, status, err := readBody(w, req)
	if err == nil {
		err = r.decode(req.Header.Get("Content-Type"), body, &status)
	}
	if err != nil {
		r.mu.Lock()
		r.stats.Refused++
		r.stats.Last = err.Error()
		r.mu.Unlock()
		http.Error(w, err.Error(), status)
		return
	}
	// An empty ExportTraceServiceResponse: no partial success to report.
	if isJSON(req.Header.Get("Content-Type")) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// readBody reads a request body of at most MaxBody bytes, gzip-decompressed when the
// request says so, and the status to answer when it cannot.
func readBody(w http.ResponseWriter, req *http.Request) ([]byte, int, error) {
	var rd io.Reader = http.MaxBytesReader(w, req.Body, MaxBody)
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("gzip body: %w", err)
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("content encoding %q: only gzip is read", enc)
	}
	body, err := io.ReadAll(io.LimitReader(rd, MaxBody+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || len(body) > MaxBody:
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("export request over %d MiB", MaxBody>>20)
	case err != nil:
		return nil, http.StatusBadRequest, fmt.Errorf("read export request: %w", err)
	}
	return body, http.StatusOK, nil
}

// decode decodes body by its content type and keeps its spans; *status is set to the
// answer for an error.
func (r *Receiver) decode(contentType string, body []byte, status *int) error {
	var err error
	keep := func(s Span) { r.keep(s) }
	switch {
	case isJSON(contentType):
		err = DecodeJSON(body, keep)
	case isProto(contentType):
		err = DecodeProto(body, keep)
	default:
		*status = http.StatusUnsupportedMediaType
		return fmt.Errorf("content type %q: want application/x-protobuf or application/json", contentType)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		*status = http.StatusBadRequest
		return err
	}
	r.stats.Exports++
	close(r.arrived)
	r.arrived = make(chan struct{})
	return nil
}

// keep stores a span, unless its trace already has a better one or the store is full.
func (r *Receiver) keep(s Span) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.spans[s.TraceID]; ok {
		if s.better(&old) {
			r.spans[s.TraceID] = s
		}
		return
	}
	if len(r.spans) >= MaxSpans {
		r.stats.Dropped++
		return
	}
	r.spans[s.TraceID] = s
	r.stats.Kept++
}

func mediaType(ct string) string {
	t, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return t
}

func isJSON(ct string) bool { return mediaType(ct) == "application/json" }

func isProto(ct string) bool {
	t := mediaType(ct)
	return t == "application/x-protobuf" || t == "application/protobuf"
}
