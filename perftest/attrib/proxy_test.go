package attrib_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// delayProxy is a TCP proxy on 127.0.0.1 that holds every chunk of bytes, both ways, for
// delay before passing it on: a network with that one-way latency and no bandwidth limit.
type delayProxy struct {
	ln    net.Listener
	delay time.Duration
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

// startDelayProxy proxies to addr ("127.0.0.1:port") until the test ends.
func startDelayProxy(t *testing.T, addr string, delay time.Duration) *delayProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &delayProxy{ln: ln, delay: delay}
	p.wg.Add(1)
	go p.accept(addr)
	t.Cleanup(p.close)
	return p
}

// Addr is where clients connect.
func (p *delayProxy) Addr() string { return p.ln.Addr().String() }

func (p *delayProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *delayProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, cs...)
	return true
}

func (p *delayProxy) accept(addr string) {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", addr)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.track(c, s)
		p.wg.Add(2)
		go p.pipe(s, c)
		go p.pipe(c, s)
	}
}

type chunk struct {
	b  []byte
	at time.Time
}

// pipe copies from src to dst, each chunk delay after it was read; it closes dst when src
// ends.
func (p *delayProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	ch := make(chan chunk, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range ch {
			time.Sleep(time.Until(c.at))
			if _, err := dst.Write(c.b); err != nil {
				for range ch {
				}
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			ch <- chunk{append([]byte(nil), buf[:n]...), time.Now().Add(p.delay)}
		}
		if err != nil { // EOF, a reset or a closed connection: the pipe ends
			break
		}
	}
	close(ch)
	<-done
	_ = dst.Close()
}
