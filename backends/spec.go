package backends

import (
	"context"
	"fmt"
	"testing"

	"github.com/testcontainers/testcontainers-go"
)

// GPUCount resolves a module's Config.GPUs: 0 attaches one GPU per tensor-parallel rank (at
// least one), NoGPU (any negative value) none, a positive value that many.
func GPUCount(gpus, tensorParallel int) int {
	switch {
	case gpus == 0:
		return max(tensorParallel, 1)
	case gpus < 0:
		return 0
	}
	return gpus
}

// Build is [Spec.Request] with opts applied after the module's defaults, so user options
// win. It contacts no Docker engine.
func (s Spec) Build(opts ...testcontainers.ContainerCustomizer) (testcontainers.GenericContainerRequest, error) {
	req, err := s.Request()
	if err != nil {
		return req, err
	}
	return req, Customize(&req, opts...)
}

// RunSpec is [Run] for a module's spec: it builds the request (opts after the defaults) and
// describes the container by [IdentityOf]. Errors read "start <backend>: ...".
func RunSpec(ctx context.Context, s Spec, o Options, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
	req, err := s.Build(opts...)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", s.Backend, err)
	}
	return Run(ctx, s.Backend, req, IdentityOf(s.Backend, s.Model, req), o)
}

// StartSpec is [Start] for a module's spec, as [RunSpec] is for [Run].
func StartSpec(tb testing.TB, s Spec, o Options, opts ...testcontainers.ContainerCustomizer) *Container {
	tb.Helper()
	req, err := s.Build(opts...)
	if err != nil {
		tb.Fatalf("start %s: %v", s.Backend, err)
	}
	return Start(tb, s.Backend, req, IdentityOf(s.Backend, s.Model, req), o)
}
