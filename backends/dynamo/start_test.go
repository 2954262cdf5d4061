package dynamo_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/dynamo"
	"github.com/perfgate/perfgate/backends/internal/kit"
)

// recorder is a testing.TB whose Errorf records instead of failing.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) reported() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.errs, "\n")
}

// TestStartWithStandInImage runs the whole Dynamo start path (network, parallel workers,
// start order, readiness, exit watchers, teardown) with a stand-in image in place of the
// Dynamo runtime (testdata/fakeengine, which answers Dynamo's command lines): the frontend
// is only ready once it reaches both workers by their network aliases. Then a worker is
// killed and the deployment reports which container died.
func TestStartWithStandInImage(t *testing.T) {
	backends.SkipIfNoDocker(t)
	img, err := kit.BuildGoImage(t.Context(), "../testdata/fakeengine", "perfgate/fakeengine",
		[]byte("FROM scratch\nCOPY fakeengine /fakeengine\nENTRYPOINT [\"/fakeengine\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var netName, logDir string
	t.Run("deployment", func(t *testing.T) {
		rec := &recorder{TB: t}
		srv := dynamo.Start(rec, dynamo.Config{
			Image:          img,
			Workers:        2,
			GPUsPerWorker:  backends.NoGPU,
			Router:         dynamo.RouterKV,
			NoControlPlane: true,
			CacheDir:       backends.NoCache,
			Env:            map[string]string{"FAKE_MODEL": dynamo.DefaultModel, "FAKE_WORKERS": "2"},
			StartupTimeout: time.Minute,
		})
		netName = srv.Network.Name
		logDir = t.ArtifactDir() // where the containers' logs go at cleanup
		want := map[string]string{"backend": "dynamo", "model": dynamo.DefaultModel, "image": img, "gpus": "0"}
		if diff := cmp.Diff(want, srv.Describe()); diff != "" {
			t.Errorf("Describe (-want +got):\n%s", diff)
		}
		if len(srv.Workers) != 2 {
			t.Fatalf("%d workers, want 2", len(srv.Workers))
		}
		resp, err := http.Get(srv.BaseURL() + "/v1/models")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), dynamo.DefaultModel) {
			t.Errorf("/v1/models = %s", body)
		}
		if err := srv.Check(t.Context()); err != nil {
			t.Errorf("Check on a running deployment: %v", err)
		}

		cli, err := testcontainers.NewDockerClientWithOpts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		if _, err := cli.ContainerKill(t.Context(), srv.Workers[1].GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for srv.Workers[1].Err() == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		err = srv.Check(t.Context())
		t.Logf("Check after killing worker 1:\n%v\nreported to the test:\n%s", err, rec.reported())
		if err == nil || !strings.Contains(err.Error(), "dynamo-worker-1 container") || !strings.Contains(err.Error(), "exited with code 137") {
			t.Errorf("Check = %v, want worker 1's exit", err)
		}
		if !strings.Contains(rec.reported(), "dynamo-worker-1 container") {
			t.Errorf("the watcher did not report worker 1's exit")
		}
	})
	// The logs went with the test's artifact directory (no -artifacts flag): none of the
	// containers' cleanups re-created it after its removal.
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		// -artifacts keeps the directory on purpose.
	} else if _, err := os.Stat(logDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("artifact directory %s left behind (stat: %v)", logDir, err)
	}
	// The network went with the deployment.
	cli, err := testcontainers.NewDockerClientWithOpts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.NetworkInspect(context.Background(), netName, client.NetworkInspectOptions{}); err == nil {
		t.Errorf("network %s still exists", netName)
	}
	if _, err := cli.VolumeInspect(context.Background(), "perfgate-dynamo-discovery-"+netName, client.VolumeInspectOptions{}); err == nil {
		t.Errorf("discovery volume of %s still exists", netName)
	}
}
