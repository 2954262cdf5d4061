package backends_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfgate/perfgate/backends/backendstest"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/perfgate/perfgate/backends"
	"github.com/perfgate/perfgate/backends/internal/kit"
)

// TestMain checks that no container or goroutine outlives the tests.
func TestMain(m *testing.M) { backendstest.Main(m) }

const fakeDockerfile = `FROM scratch
COPY fakeengine /fakeengine
ENTRYPOINT ["/fakeengine"]
`

var (
	fakeOnce sync.Once
	fakeImg  string
	fakeErr  error
)

// fakeImage builds testdata/fakeengine into a FROM scratch image once per process.
func fakeImage(t *testing.T) string {
	t.Helper()
	backends.SkipIfNoDocker(t)
	fakeOnce.Do(func() {
		fakeImg, fakeErr = kit.BuildGoImage(context.Background(), "./testdata/fakeengine", "perfgate/fakeengine", []byte(fakeDockerfile))
	})
	if fakeErr != nil {
		t.Fatal(fakeErr)
	}
	return fakeImg
}

func fakeSpec(t *testing.T, args ...string) backends.Spec {
	t.Helper()
	return backends.Spec{
		Backend: "fake",
		Image:   fakeImage(t),
		Model:   "fake-model",
		Cmd:     append([]string{"--model", "fake-model", "--port", "8000"}, args...),
		Port:    "8000/tcp",
		Timeout: time.Minute,
	}
}

// recorder is a testing.TB whose Errorf records instead of failing, to show the message a
// failing perf case would print.
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

func TestStartServesDescribesAndCleansUp(t *testing.T) {
	var id string
	var c *backends.Container
	logDir := t.TempDir() // t.ArtifactDir() is removed with the subtest unless go test -artifacts
	t.Run("start", func(t *testing.T) {
		t.Setenv("HF_TOKEN", "hf_do_not_print_me")
		c = backends.Start(t, fakeSpec(t), backends.Options{LogDir: logDir})
		id = c.GetContainerID()
		if !strings.HasPrefix(c.BaseURL(), "http://") || strings.HasSuffix(c.BaseURL(), "/v1") {
			t.Errorf("BaseURL() = %q, want http://host:port without /v1", c.BaseURL())
		}
		if c.MetricsURL() != c.BaseURL()+"/metrics" {
			t.Errorf("MetricsURL() = %q", c.MetricsURL())
		}
		want := map[string]string{"backend": "fake", "model": "fake-model", "image": fakeImage(t), "gpus": "0"}
		if got := c.Describe(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Describe() = %v, want %v", got, want)
		}
		for k, v := range c.Describe() {
			if strings.ContainsAny(v, " \t") || strings.ToLower(k) != k {
				t.Errorf("Describe key %q value %q: want lower-case keys, values without spaces", k, v)
			}
		}
		resp, err := http.Get(c.BaseURL() + "/v1/models")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `"fake-model"`) {
			t.Errorf("/v1/models = %s", body)
		}
		if err := c.Check(t.Context()); err != nil {
			t.Errorf("Check on a running container: %v", err)
		}
	})
	if c == nil {
		t.Skip("no container was started (see the subtest)")
	}
	// After the subtest's cleanup: the container is gone and its log was kept, redacted.
	cli, err := testcontainers.NewDockerClientWithOpts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{}); err == nil {
		t.Errorf("container %s still exists after the test", id)
	}
	logFile := c.LogFile()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	if !strings.Contains(string(b), "serving fake-model") || strings.Contains(string(b), "hf_do_not_print_me") {
		t.Errorf("log file %s: want the server's output with HF_TOKEN redacted, got:\n%s", logFile, b)
	}
}

// TestKilledMidRun kills the server while a streamed completion is in flight and shows the
// failure the test gets: exit code and log tail, not a wall of connection errors.
func TestKilledMidRun(t *testing.T) {
	rec := &recorder{TB: t}
	c := backends.Start(rec, fakeSpec(t), backends.Options{TailLines: 5})

	resp, err := http.Post(c.BaseURL()+"/v1/completions", "application/json", strings.NewReader(`{"model":"fake-model","prompt":[1,2,3],"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for i := 0; i < 3 && sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "data: ") {
			i++
		}
	}

	cli, err := testcontainers.NewDockerClientWithOpts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.ContainerKill(t.Context(), c.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // the stream breaks off
	}

	deadline := time.Now().Add(10 * time.Second)
	for c.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if c.Err() == nil {
		t.Fatal("watcher did not notice the killed container")
	}
	rec.mu.Lock()
	reported := strings.Join(rec.errs, "\n")
	rec.mu.Unlock()
	t.Logf("the test would fail with:\n%s", reported)
	for _, want := range []string{"fake container", "exited with code 137 (killed by signal 9)", "last 5 log lines", "fakeengine: serving fake-model"} {
		if !strings.Contains(reported, want) {
			t.Errorf("reported failure lacks %q:\n%s", want, reported)
		}
	}
	err = c.Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "exited with code 137") {
		t.Errorf("Check after kill = %v, want exit code 137", err)
	}
}

// TestStartupFailure shows the error of a server that exits while loading: exit code and
// log tail, with HF_TOKEN redacted.
func TestStartupFailure(t *testing.T) {
	t.Setenv("HF_TOKEN", "hf_do_not_print_me")
	c, err := backends.Run(t.Context(), fakeSpec(t, "--fail-start", "3"), backends.Options{})
	testcontainers.CleanupContainer(t, c)
	if err == nil {
		t.Fatal("Run succeeded with a server that exits while loading")
	}
	t.Logf("Run error:\n%v", err)
	msg := err.Error()
	for _, want := range []string{"start fake:", "exited with code 3", "CUDA out of memory", "HF_TOKEN=[redacted]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if strings.Contains(msg, "hf_do_not_print_me") {
		t.Error("error message leaks HF_TOKEN")
	}
}

func TestNoGPU(t *testing.T) {
	backends.SkipIfNoDocker(t)
	if ok, err := kit.NvidiaRuntime(t.Context()); err != nil || ok {
		t.Skipf("nvidia runtime present (%v): nothing to refuse", err)
	}
	spec := backends.Spec{Backend: "vllm", Image: "vllm/vllm-openai:v0.11.0", Model: "m", Port: "8000/tcp", GPUs: 1}
	c, err := backends.Run(t.Context(), spec, backends.Options{})
	if c != nil || !errors.Is(err, backends.ErrNoGPU) {
		t.Errorf("Run without nvidia runtime = %v, %v; want nil, ErrNoGPU", c, err)
	}
	t.Logf("Run error: %v", err)
}

func TestSpecValidate(t *testing.T) {
	_, err := backends.Spec{GPUs: -2}.Request()
	want := "backend name is empty\nimage is empty\nport is empty\ngpus is -2, want >= 0"
	if err == nil || err.Error() != want {
		t.Errorf("Request() error = %v, want every problem:\n%s", err, want)
	}
}

// TestTimeoutLeavesNoContainer runs a test binary that starts a container and then hangs
// past its -timeout: the binary panics without running tb.Cleanup, and with no reaper the
// container would be left behind. Track's deadline guard removes it first.
func TestTimeoutLeavesNoContainer(t *testing.T) {
	if os.Getenv("PERFGATE_TIMEOUT_HELPER") == "1" {
		// The log directory is the parent's: this binary dies without cleanups, and its own
		// artifact directory would be left behind.
		c := backends.Start(t, fakeSpec(t), backends.Options{LogDir: os.Getenv("PERFGATE_TIMEOUT_LOGDIR")})
		fmt.Printf("helper container %s session %s\n", c.GetContainerID(), kit.SessionID)
		select {} // hang until the test binary's deadline
	}
	fakeImage(t) // build outside the helper's time budget
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestTimeoutLeavesNoContainer$", "-test.timeout=20s", "-test.v")
	cmd.Env = append(os.Environ(), "PERFGATE_TIMEOUT_HELPER=1", "PERFGATE_TIMEOUT_LOGDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("helper did not time out:\n%s", out)
	}
	var id string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "helper" && f[1] == "container" {
			id = f[2]
		}
	}
	if !strings.Contains(string(out), "panic: test timed out") {
		t.Fatalf("helper did not time out:\n%s", out)
	}
	if id == "" {
		t.Skipf("helper timed out before its container was ready (a loaded machine?):\n%s", out)
	}
	t.Logf("helper timed out; its stderr ends with:\n%s", lastLines(string(out), 4))
	cli, err := testcontainers.NewDockerClientWithOpts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.ContainerInspect(t.Context(), id, client.ContainerInspectOptions{}); err == nil {
		t.Errorf("container %s of the timed-out binary still exists", id)
		_, _ = cli.ContainerRemove(t.Context(), id, client.ContainerRemoveOptions{Force: true})
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var keep []string
	for _, l := range lines {
		if strings.Contains(l, "backends: test binary deadline") || strings.Contains(l, "panic: test timed out") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep[max(0, len(keep)-n):], "\n")
}

// TestRemoveStale leaves a container labelled as started by a process that has died, as a
// killed test binary would, and checks that RemoveStale removes it.
func TestRemoveStale(t *testing.T) {
	img := fakeImage(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	host, _ := os.Hostname()
	ctr, err := testcontainers.GenericContainer(t.Context(), testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:  img,
			Labels: map[string]string{kit.LabelSession: fmt.Sprintf("%d-0000@%s", dead.Process.Pid, host)},
		},
	})
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatal(err)
	}
	removed, err := kit.RemoveStale(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	id := ctr.GetContainerID()[:12]
	if !strings.Contains(strings.Join(removed, " "), id) {
		t.Errorf("RemoveStale removed %v, want %s among them", removed, id)
	}
}

// target is perftest.Target plus perftest.Describer, stated here because backends does not
// import perftest: every started backend must satisfy it, and testcontainers.Container so
// testcontainers.CleanupContainer and TerminateContainer take it.
type target interface {
	BaseURL() string
	Describe() map[string]string
}

var (
	_ target                   = (*backends.Container)(nil)
	_ testcontainers.Container = (*backends.Container)(nil)
)

// TestKitTrack checks that kit.Track, which modules that start containers off the test
// goroutine use, is this package's tracking: it takes a *Container (nil for one that was
// never created, as Run returns on early errors) and refuses any other container.
func TestKitTrack(t *testing.T) {
	if kit.Track == nil {
		t.Fatal("kit.Track is not set once backends is imported")
	}
	kit.Track(t, (*backends.Container)(nil))
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "is not a *backends.Container") {
			t.Errorf("kit.Track(other container) recovered %v, want a panic naming the type", r)
		}
	}()
	kit.Track(t, otherContainer{})
}

// otherContainer is a testcontainers.Container that package backends did not start.
type otherContainer struct{ testcontainers.Container }
