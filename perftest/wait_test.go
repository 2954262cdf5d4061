package perftest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestWaiter checks what the open-loop waiter promises, not how punctual it is: it never
// returns before the send time, long waits included (a Go timer first, then the precise
// sleep), and a wait ends when its context does.
func TestWaiter(t *testing.T) {
	done := make(chan struct{})
	go func() { // the waiter may lock its goroutine's thread: give it one of its own
		defer close(done)
		w := newWaiter()
		for _, d := range []time.Duration{-time.Millisecond, 0, 50 * time.Microsecond, time.Millisecond, coarseWaitForTest + 2*time.Millisecond} {
			due := time.Now().Add(d)
			w.until(context.Background(), due)
			assert.False(t, time.Now().Before(due), "returned before a due time %v ahead", d)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(10*time.Millisecond, cancel)
		w.until(ctx, time.Now().Add(time.Hour)) // returns when ctx ends, long before
		assert.Error(t, ctx.Err())
		assert.NotZero(t, w.cpu(), "the dispatcher's CPU time, or -1 where unknown")
	}()
	<-done
}
