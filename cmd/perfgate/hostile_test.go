package main

import (
	"bytes"
	"cmp"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/internal/fakeserver"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// TestHostileServers runs perfgate run, as a user would, against a server misbehaving in
// each of the ways issue 16 saw break it, and checks the exit status, the message, and the
// files left behind. Every case is bounded: by a short --timeout or --stall-timeout where
// the fault is a wait, by a context of its own otherwise. docs/reliability.md's "What perfgate promises
// under faults" lists them.
func TestHostileServers(t *testing.T) {
	for _, tc := range []struct {
		fault fakeserver.Fault
		code  int
		// want is in stderr or stdout; health is the result file's health line ("": no
		// result file).
		want, health string
		check        func(t *testing.T, out, stdout, stderr string)
		// timeout and stall are --timeout and --stall-timeout: short only where the fault
		// is a wait, so that a busy machine cannot fail the other cases (default 60s, 30s).
		timeout, stall string
	}{
		{fault: fakeserver.ModelsHang, code: 2, want: "list models at", check: noFiles, timeout: "2s"},
		{fault: fakeserver.ModelsForever, code: 2, want: "the answer is over 1 MiB, not a model list (set --model)", check: noFiles},
		{fault: fakeserver.ModelsEmptyID, code: 2, want: "a model with an empty id (set --model)", check: noFiles},
		{fault: fakeserver.ResetHang, code: 0, want: "cache reset failed before repetition 1", health: "ok", check: configIs("cache-reset", "failed"), timeout: "10s"},
		{fault: fakeserver.StreamForever, code: 1, want: "timeout: request 0: not done within 2s (the request timeout) after", health: "error-rate", check: recordsUnder(10 << 20), timeout: "2s"},
		{fault: fakeserver.Stall, code: 1, want: "stall: request 0: no event for 1s (the stall timeout) after 3 chunks", health: "error-rate", stall: "1s"},
		{fault: fakeserver.Redirect, code: 1, want: `redirect to "http://198.51.100.1/v1/completions" not followed`, health: "error-rate"},
		{fault: fakeserver.ErrorNull, code: 0, health: "ok"},
		{fault: fakeserver.BOM, code: 0, health: "ok", check: firstTokenTimed},
		{fault: fakeserver.CROnly, code: 0, health: "ok"},
		{fault: fakeserver.MultiLine, code: 0, health: "ok"},
		{fault: fakeserver.DoneSpace, code: 0, health: "ok"},
		{fault: fakeserver.GzipBody, code: 1, want: "application/json", health: "error-rate"},
		{fault: fakeserver.HTMLBody, code: 1, want: "text/html", health: "error-rate"},
		{fault: fakeserver.HugeLine, code: 1, want: "server-sent event line longer than", health: "error-rate"},
		{fault: fakeserver.UsageInflated, code: 0, health: "ok", check: ratesSane},
		{fault: fakeserver.UsageDeflated, code: 0, health: "ok", check: ratesSane},
		{fault: fakeserver.MetricsHuge, code: 0, want: "the exposition is over 16 MiB", health: "ok", check: configIs("server-metrics", "none")},
		{fault: fakeserver.MetricsNaN, code: 0, want: "vllm:kv_cache_usage_perc, vllm:num_requests_waiting had non-finite values (NaN or Inf), left out", health: "ok", check: comparable},
		{fault: fakeserver.HTTP500, code: 1, want: "the engine is out of KV blocks", health: "error-rate"},
		{fault: fakeserver.CloseAfterHead, code: 1, want: "stream ended before [DONE] after 0 chunks", health: "error-rate"},
		{fault: fakeserver.ErrorChunk, code: 1, want: "CUDA out of memory", health: "error-rate"},
		{fault: fakeserver.ErrorHuge, code: 1, want: "error in stream", health: "error-rate", check: stderrUnder(64 << 10)},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			t.Parallel()
			srv := fakeserver.Start(t, fakeserver.Config{Fault: tc.fault})
			out := t.TempDir()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code := run(ctx, []string{"run", "--endpoint", srv.BaseURL(), "--engine", "vllm", "--isl", "8", "--osl", "16",
				"--requests", "4", "--concurrency", "2", "--count", "1", "--warmup", "-1",
				"--timeout", cmp.Or(tc.timeout, "60s"), "--stall-timeout", cmp.Or(tc.stall, "30s"), "--out", out, "--name", "Hostile"}, &stdout, &stderr)
			both := stdout.String() + stderr.String()
			assert.Equal(t, tc.code, code, "output:\n%s", both)
			if tc.want != "" {
				assert.Contains(t, both, tc.want)
			}
			if tc.health != "" {
				f, err := resultfile.Read(filepath.Join(out, "Hostile.txt"))
				require.NoError(t, err, "a result file, whatever the server did")
				assert.Equal(t, tc.health, f.ConfigValue("health"))
			}
			if tc.check != nil {
				tc.check(t, out, stdout.String(), stderr.String())
			}
		})
	}
}

func noFiles(t *testing.T, out, _, _ string) {
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing written when the run could not start")
}

func configIs(key, value string) func(t *testing.T, out, _, _ string) {
	return func(t *testing.T, out, _, _ string) {
		f, err := resultfile.Read(filepath.Join(out, "Hostile.txt"))
		require.NoError(t, err)
		assert.Equal(t, value, f.ConfigValue(key))
	}
}

func recordsUnder(limit int64) func(t *testing.T, out, _, _ string) {
	return func(t *testing.T, out, _, _ string) {
		st, err := os.Stat(filepath.Join(out, "Hostile.records.jsonl"))
		require.NoError(t, err)
		assert.Less(t, st.Size(), limit, "a stream without end keeps a bounded number of timestamps")
	}
}

func stderrUnder(limit int) func(t *testing.T, _, _, _ string) {
	return func(t *testing.T, _, stdout, stderr string) {
		assert.Less(t, len(stdout)+len(stderr), limit, "a 512 KiB error message is clipped")
	}
}

// firstTokenTimed: a byte-order mark before the first event does not hide the first token.
func firstTokenTimed(t *testing.T, out, _, _ string) {
	recs, err := os.ReadFile(filepath.Join(out, "Hostile.records.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, 4, strings.Count(string(recs), `"first_token_ns":`), "every request has its first token")
	assert.Equal(t, 4, strings.Count(string(recs), `"chunks":16`), "and all 16 chunks")
}

// ratesSane: usage that disagrees with the stream never makes an impossible rate.
func ratesSane(t *testing.T, out, stdout, _ string) {
	f, err := resultfile.Read(filepath.Join(out, "Hostile.txt"))
	require.NoError(t, err)
	for _, v := range f.Values("tok/s") {
		assert.Less(t, v, 1e6, "tok/s from the chunks counted, not the server's claim")
	}
	for _, v := range f.Values("tpot-p50-sec") {
		assert.Greater(t, v, 50e-6, "TPOT from the chunks counted (100 µs apart)")
	}
	assert.Contains(t, stdout, "4 requests streamed a different number of tokens than the server's usage reports", "the disagreement is counted and said")
}

// comparable: NaN and +Inf scrapes are dropped, so perfgate compare reads the file.
func comparable(t *testing.T, out, _, _ string) {
	path := filepath.Join(out, "Hostile.txt")
	code, stdout, stderr := runCmd(t, "compare", path, path)
	assert.Equal(t, 3, code, "read and compared: UNDECIDED at one repetition a side\n%s%s", stdout, stderr)
	assert.Contains(t, stdout, "UNDECIDED")
}
