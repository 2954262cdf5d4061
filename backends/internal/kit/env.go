package kit

import (
	"context"
	"net"
	"os"
	"strings"

	"github.com/moby/moby/client"
)

// reaperImage is the image testcontainers-go v0.45 starts as its reaper (Ryuk).
const reaperImage = "testcontainers/ryuk:0.14.0"

// SetTestEnv fills in testcontainers-go's environment where it is unset, for a TestMain
// that runs before any container starts, and returns the assignments it made:
//
//   - TESTCONTAINERS_RYUK_DISABLED=true when the reaper image is not present locally, as on
//     an engine with no registry to pull it from. Containers are then removed by the
//     tb.Cleanup that backends.Start registers, which also runs when a test fails or panics
//     (not when the test binary is killed or times out: use -timeout generously).
//   - TESTCONTAINERS_HOST_OVERRIDE=localhost when the Docker engine runs in this network
//     namespace (its bridge gateway is one of this machine's addresses) although the
//     process looks like it runs in a container (/.dockerenv exists): testcontainers would
//     otherwise reach published ports through the default gateway, where they are not.
//
// CI scripts should export both explicitly where they know the answer. SetTestEnv also
// removes containers left behind by dead processes on this machine (see [RemoveStale]).
func SetTestEnv(ctx context.Context) []string {
	defer func() { _, _ = RemoveStale(ctx) }()
	var set []string
	setenv := func(k, v string) {
		if _, ok := os.LookupEnv(k); !ok {
			os.Setenv(k, v)
			set = append(set, k+"="+v)
		}
	}
	// A plain Docker client: testcontainers' own reads its configuration once, which would
	// happen before the variables are set.
	// It tries DOCKER_HOST, then the default socket, as testcontainers does.
	cli := pingable(ctx,
		[]client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()},
		[]client.Opt{client.FromEnv, client.WithHost("unix:///var/run/docker.sock"), client.WithAPIVersionNegotiation()})
	if cli == nil {
		return nil
	}
	defer cli.Close()
	if _, ok := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !ok {
		if _, err := cli.ImageInspect(ctx, reaperImage); err != nil {
			setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
		}
	}
	if _, ok := os.LookupEnv("TESTCONTAINERS_HOST_OVERRIDE"); !ok && strings.HasPrefix(cli.DaemonHost(), "unix://") {
		if _, err := os.Stat("/.dockerenv"); err == nil && bridgeGatewayIsLocal(ctx, cli) {
			setenv("TESTCONTAINERS_HOST_OVERRIDE", "localhost")
		}
	}
	return set
}

func pingable(ctx context.Context, candidates ...[]client.Opt) *client.Client {
	for _, opts := range candidates {
		cli, err := client.New(opts...)
		if err != nil {
			continue
		}
		if _, err := cli.Ping(ctx, client.PingOptions{}); err == nil {
			return cli
		}
		cli.Close()
	}
	return nil
}

func bridgeGatewayIsLocal(ctx context.Context, cli *client.Client) bool {
	res, err := cli.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{})
	if err != nil {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, c := range res.Network.IPAM.Config {
		gw := c.Gateway
		if !gw.IsValid() && c.Subnet.IsValid() {
			// Older engines leave the gateway out: Docker gives it the subnet's first address.
			gw = c.Subnet.Masked().Addr().Next()
		}
		if !gw.IsValid() {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.String() == gw.String() {
				return true
			}
		}
	}
	return false
}
