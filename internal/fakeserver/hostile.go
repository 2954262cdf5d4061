package fakeserver

import (
	"bytes"
	"io"
	"net/http"
)

// Faults of issue 23: a server whose words are hostile to a terminal and a CI log, and a
// /metrics that never ends or never answers.
const (
	HTTP500Hostile Fault = "http-500-hostile" // 500 with an HTML body of terminal escapes, newlines and a workflow command (HostileText)
	MetricsForever Fault = "metrics-forever"  // /metrics streams samples without end
	MetricsHang    Fault = "metrics-hang"     // /metrics accepts and never answers
)

// HostileText is the body HTTP500Hostile answers with: an HTML page that retitles the
// terminal window and clears the screen, then starts lines of its own, a markdown heading
// and a GitHub Actions workflow command (issue 23 saw perfgate print such a body raw).
const HostileText = "<html>\x1b]0;PWNED\x07\x1b[2J<h1>oops</h1>\n# Heading\n::error file=x.go::pwned\n##[warning]v1\u202e</html>"

// hostileFault answers a completion the way an issue 23 fault does, and reports whether it
// did.
func (s *Server) hostileFault(w http.ResponseWriter) bool {
	if s.cfg.Fault != HTTP500Hostile {
		return false
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, HostileText)
	return true
}

// hostileMetrics answers /metrics the way an issue 23 fault does, and reports whether it
// did.
func (s *Server) hostileMetrics(w http.ResponseWriter, r *http.Request) bool {
	switch s.cfg.Fault {
	case MetricsForever:
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		line := []byte("vllm:num_requests_waiting{model_name=\"fake-model\"} 0\n")
		s.forever(w, r, bytes.Repeat(line, 1<<14))
	case MetricsHang:
		s.hang(r)
	default:
		return false
	}
	return true
}
