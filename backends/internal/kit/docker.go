package kit

import (
	"context"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// NvidiaRuntime reports whether the Docker engine lists an nvidia runtime, which GPU device
// requests need.
func NvidiaRuntime(ctx context.Context) (bool, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return false, err
	}
	defer cli.Close()
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return false, err
	}
	_, ok := info.Info.Runtimes["nvidia"]
	return ok, nil
}
