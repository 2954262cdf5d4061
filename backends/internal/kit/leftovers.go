package kit

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Leftovers returns the IDs and names of containers that this process started through
// package backends and that still exist. A TestMain calls it after m.Run to prove that
// cleanup removed everything (backendstest.Main does).
func Leftovers(ctx context.Context) ([]string, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: client.Filters{}.Add("label", LabelSession+"="+SessionID),
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range res.Items {
		out = append(out, s.ID[:min(12, len(s.ID))]+" "+strings.Join(s.Names, ","))
	}
	return out, nil
}

// RemoveStale removes containers that a process on this machine started through package
// backends and left behind when it died without cleanup (killed, or crashed off the test
// goroutine), and returns their IDs. Containers of live processes and of other machines
// are left alone. backends.Start calls it once per process; SetTestEnv calls it too.
func RemoveStale(ctx context.Context) ([]string, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", LabelSession)})
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var removed []string
	var errs []error
	for _, ctr := range res.Items {
		pid, h, ok := parseSession(ctr.Labels[LabelSession])
		if !ok || h != host || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		if _, err := cli.ContainerRemove(ctx, ctr.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, ctr.ID[:min(12, len(ctr.ID))])
	}
	return removed, errors.Join(errs...)
}

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}
