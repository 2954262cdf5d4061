package dynamo

import (
	"context"
	"errors"

	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends"
)

// Container is a started Dynamo deployment. Its embedded backends.Container is the
// frontend: BaseURL and MetricsURL refer to it; Describe names backend "dynamo", the image,
// the model and the GPUs of all workers.
type Container struct {
	*backends.Container
	Workers    []*backends.Container
	Etcd, NATS *backends.Container
	Network    *testcontainers.DockerNetwork
	// Volume is the discovery volume of a deployment without a control plane ("": none).
	Volume string
}

// Check returns nil while every container of the deployment runs, or the first exit found,
// with its exit code and log tail.
func (c *Container) Check(ctx context.Context) error {
	for _, x := range c.all() {
		if err := x.Check(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Terminate removes the frontend, the workers, etcd and NATS, and the network.
func (c *Container) Terminate(ctx context.Context, opts ...testcontainers.TerminateOption) error {
	if c == nil {
		return nil
	}
	var errs []error
	for _, x := range c.all() {
		if err := testcontainers.TerminateContainer(x, opts...); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeVolume(ctx, c.Volume); err != nil {
		errs = append(errs, err)
	}
	if c.Network != nil {
		if err := c.Network.Remove(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Container) all() []*backends.Container {
	var out []*backends.Container
	for _, x := range append([]*backends.Container{c.Container}, append(c.Workers, c.Etcd, c.NATS)...) {
		if x != nil {
			out = append(out, x)
		}
	}
	return out
}
