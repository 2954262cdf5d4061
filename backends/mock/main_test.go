package mock

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// After answering a request whose body it did not read (413 for an oversized
		// body), net/http lingers 500 ms before closing the connection, even after
		// Server.Close; that goroutine ends by itself.
		goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
}
