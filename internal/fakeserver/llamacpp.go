package fakeserver

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
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
)

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

// closeMidWrite takes the connection over, streams one response that advertises
// Keep-Alive, and resets the connection once the client has begun its next request on it.
func (s *Server) closeMidWrite(w http.ResponseWriter, promptLen, tokens int) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	bw := bufio.NewWriter(conn)
	fmt.Fprint(bw, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=100\r\nTransfer-Encoding: chunked\r\n\r\n")
	s.stream(&chunkedWriter{w: bw}, func() { _ = bw.Flush() }, s.quit, promptLen, tokens)
	fmt.Fprint(bw, "0\r\n\r\n")
	_ = bw.Flush()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _ = brw.Reader.Peek(1)
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // a reset, as a close with unread data sends
	}
	_ = conn.Close()
}
