// Package kittest holds what the engine modules' tests share to check their container
// requests exactly with go-cmp.
package kittest

import (
	"bytes"
	"fmt"
	"io"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"

	"github.com/perfgate/perfgate/backends/internal/kit"
)

// RequestOpts compare testcontainers requests whose HostConfigModifier is a function by
// what it sets, and files by their content.
var RequestOpts = cmp.Options{
	cmp.Transformer("HostConfig", func(f func(*container.HostConfig)) container.HostConfig {
		var hc container.HostConfig
		if f != nil {
			f(&hc)
		}
		return hc
	}),
	cmp.Transformer("File", func(r io.Reader) string {
		br, ok := r.(*bytes.Reader)
		if !ok {
			return fmt.Sprintf("%T", r)
		}
		b := make([]byte, br.Size())
		_, _ = br.ReadAt(b, 0)
		return string(b)
	}),
}

// Labels are the labels of every container of backend this process starts.
func Labels(backend string) map[string]string {
	return map[string]string{kit.LabelBackend: backend, kit.LabelSession: kit.SessionID}
}
