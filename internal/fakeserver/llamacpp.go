package fakeserver

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
)

// Faults of llama.cpp's llama-server as it really behaves (upstream 82bb485, built from
// source and run on loopback; perfgate's issue 23).
const (
	// CloseMidWrite is llama-server's keep-alive: every streamed response says
	// "Connection: keep-alive" and "Keep-Alive: timeout=5", then the server closes the
	// connection, and the close lands while the client is writing its next request on it.
	// The server never reads that request: as soon as its first bytes arrive it resets the
	// connection, and its receive window is a few KiB, so that a request of more than that
	// is always cut partly written (Go's transport does not resend such a request by
	// itself). Requests counts only the requests the server read.
	CloseMidWrite Fault = "close-mid-write"
	// OneSlot is llama-server started with -np 1 and --metrics: one completion streams at a
	// time, the others wait for the slot, and /metrics reports how many wait as
	// llamacpp:requests_deferred.
	OneSlot Fault = "one-slot"
)

// oneSlot streams a completion once the server's one slot is free, counting the requests
// that wait for it.
func (s *Server) oneSlot(w http.ResponseWriter, r *http.Request, promptLen, tokens int) {
	s.deferred.Add(1)
	select {
	case s.slot <- struct{}{}:
		s.deferred.Add(-1)
	case <-r.Context().Done():
		s.deferred.Add(-1)
		return
	case <-s.quit:
		s.deferred.Add(-1)
		return
	}
	defer func() { <-s.slot }()
	w.Header().Set("Content-Type", "text/event-stream")
	s.stream(w, w.(http.Flusher).Flush, r.Context().Done(), promptLen, tokens)
}

// llamaMetrics writes llama-server's /metrics.
func (s *Server) llamaMetrics(w io.Writer) {
	busy := len(s.slot)
	fmt.Fprintf(w, "# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing %d\n# TYPE llamacpp:requests_deferred gauge\nllamacpp:requests_deferred %d\n",
		busy, s.deferred.Load())
}

// smallWindowListener listens on loopback with a receive buffer of a few KiB on every
// connection, set before the handshake, so that a client that writes more than that while
// the server does not read blocks inside its write.
func smallWindowListener(tb testing.TB) net.Listener {
	tb.Helper()
	lc := net.ListenConfig{Control: setSmallReceiveBuffer}
	l, err := lc.Listen(tb.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("fakeserver: listen: %v", err)
	}
	return l
}
