//go:build unix

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// floorMeasure is the least a Go client can spend on the same streams: n goroutines, each
// on one kept-alive connection, writing a raw HTTP/1.1 request and reading the response
// with conn.Read into an 8 KiB buffer, counting events and parsing nothing. Beside
// perfgate's figure it says how much of the cost is the kernel's and the runtime's.
func floorMeasure(ctx context.Context, url string, n, tokens, requests int) (measurement, error) {
	addr := strings.TrimPrefix(url, "http://")
	body := fmt.Sprintf(`{"max_tokens":%d}`, tokens)
	req := []byte(fmt.Sprintf("POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body))
	mark := []byte(`"text":" the"`)
	var next atomic.Int64
	var got atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return measurement{}, err
		}
		defer c.Close()
		conns[i] = c
	}
	u0, s0 := cpuTime()
	r0 := readCalls()
	t0 := time.Now()
	for _, c := range conns {
		wg.Go(func() {
			buf := make([]byte, 8<<10)
			var tail, carry, seam []byte
			for next.Add(1) <= int64(requests) {
				if _, err := c.Write(req); err != nil {
					errs <- err
					return
				}
				sawDone := false
				for done := false; !done; {
					k, err := c.Read(buf)
					if err != nil {
						errs <- err
						return
					}
					seg := buf[:k]
					// Count the token marks, also one cut between two reads: carry holds the
					// previous read's last bytes, too few for a whole mark.
					seam = append(append(seam[:0], carry...), seg[:min(len(seg), len(mark)-1)]...)
					got.Add(int64(bytes.Count(seam, mark) + bytes.Count(seg, mark)))
					carry = append(carry, seg[max(0, len(seg)-(len(mark)-1)):]...)
					carry = carry[max(0, len(carry)-(len(mark)-1)):]
					tail = append(tail, seg[max(0, len(seg)-16):]...)
					tail = tail[max(0, len(tail)-16):]
					sawDone = sawDone || bytes.Contains(seg, []byte("[DONE]"))
					done = sawDone && bytes.HasSuffix(tail, []byte("\r\n0\r\n\r\n"))
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(t0)
	u1, s1 := cpuTime()
	r1 := readCalls()
	close(errs)
	if err := <-errs; err != nil {
		return measurement{}, err
	}
	return measurement{requests: requests, tokens: int(got.Load()), user: u1 - u0, sys: s1 - s0, wall: wall, reads: r1 - r0}, nil
}
