package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const td = "../../perftest/gate/testdata/"

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCompareExitCodes(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"known shift", []string{td + "base.txt", td + "slower.txt"}, 1, "PerfX: 2 metrics regressed"},
		{"no shift", []string{td + "base.txt", td + "same.txt"}, 0, "PerfX: no regression"},
		{"improvements reported", []string{td + "slower.txt", td + "base.txt"}, 1, "improvement"},
		{"garbage", []string{td + "base.txt", td + "garbage.txt"}, 2, "garbage.txt: no benchmark result lines"},
		{"truncated baseline", []string{td + "truncated.txt", td + "base.txt"}, 2, "truncated.txt:21: unit \"itl\" is not one perfgate writes"},
		{"missing file", []string{td + "base.txt", td + "nope.txt"}, 2, "nope.txt: no such file"},
		{"other setup", []string{td + "base.txt", td + "other-setup.txt"}, 2, "refusing to compare unlike runs"},
		{"unhealthy run", []string{td + "base.txt", td + "unhealthy.txt"}, 2, "refusing to compare: ../../perftest/gate/testdata/unhealthy.txt: the run was unhealthy (health: error-rate)"},
		{"unhealthy, compared anyway", []string{td + "base.txt", td + "unhealthy.txt", "--allow-unhealthy"}, 0, "no regression"},
		{"one file", []string{td + "base.txt"}, 2, "want two files"},
		{"bad format", []string{td + "base.txt", td + "same.txt", "--format", "xml"}, 2, "unknown --format"},
		{"bad flag", []string{"--nope", td + "base.txt", td + "same.txt"}, 2, "flag provided but not defined"},
		{"flags after files", []string{td + "base.txt", td + "slower.txt", "--threshold", "0.5"}, 0, "no regression"},
		{"too few: undecided, not a pass", []string{td + "few.txt", td + "few.txt"}, 3, "PerfX: UNDECIDED: no regression of 4 metrics can be significant at n=3+3"},
		{"3 repetitions against 10 can be", []string{td + "base.txt", td + "few.txt"}, 1, "itl-p50-sec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCmd(t, append([]string{"compare"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
			if !strings.Contains(out+errs, tc.want) {
				t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", tc.want, out, errs)
			}
		})
	}
}

// Two files that share no gated metric (only machine figures), and a current run that
// dropped some of the baseline's gated metrics, are refused with the metrics named, never
// passed; a metric only the current run has is a warning.
func TestCompareRefusesWhatItCannotCompare(t *testing.T) {
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	read := func(name string) string {
		b, err := os.ReadFile(td + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	figure := func(s string) string {
		return strings.ReplaceAll(s, " error-rate\n", " error-rate 0.1 machine-others-cpu\n")
	}
	base := write("base.txt", figure(read("base.txt")))
	renamed := figure(read("same.txt"))
	for _, r := range [][2]string{{"ttft-p50", "ttft-p99"}, {"itl-p50", "itl-p99"}, {"e2e-p50", "e2e-p99"}, {"req/s", "tok/s"}} {
		renamed = strings.ReplaceAll(renamed, r[0], r[1])
	}
	renamed = strings.ReplaceAll(renamed, "error-rate", "tpot-p50-sec")
	code, out, errs := runCmd(t, "compare", base, write("renamed.txt", renamed))
	if code != 2 || !strings.Contains(errs, "no gated metric in common: the baseline has ttft-p50-sec, itl-p50-sec, e2e-p50-sec, req/s, error-rate; the current run has ttft-p99-sec") {
		t.Errorf("renamed metrics: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}

	dropped := strings.ReplaceAll(strings.ReplaceAll(read("same.txt"), " 0 error-rate", ""), "Unit error-rate better=lower\n", "")
	dropped = strings.ReplaceAll(dropped, " e2e-p50-sec ", " e2e-p90-sec ")
	code, out, errs = runCmd(t, "compare", td+"base.txt", write("dropped.txt", dropped))
	if code != 2 || !strings.Contains(errs, "gated metrics of the baseline are missing from the current run: e2e-p50-sec, error-rate (restore them") {
		t.Errorf("dropped metrics: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}

	clock := strings.Replace(read("same.txt"), " error-rate\n", " error-rate -5 gpu-sm-clock-min-mhz 1 gpu-throttle-reasons\n", 1)
	code, out, errs = runCmd(t, "compare", td+"base.txt", write("clock.txt", clock))
	if code != 2 || !strings.Contains(errs, "clock.txt:14: gpu-sm-clock-min-mhz -5: a clock reading must be above 0 MHz") {
		t.Errorf("a negative clock: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}

	added := strings.ReplaceAll(read("same.txt"), " error-rate\n", " error-rate 0.02 ttft-p99-sec\n")
	code, out, errs = runCmd(t, "compare", td+"base.txt", write("added.txt", added))
	if code != 0 || !strings.Contains(out, "ttft-p99-sec: not compared: in the current run only (a new metric: re-record the baseline with -perf.update to gate it)") {
		t.Errorf("an added metric: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

func TestCompareOtherSetupShowsDiff(t *testing.T) {
	_, _, errs := runCmd(t, "compare", td+"base.txt", td+"other-setup.txt")
	if !strings.Contains(errs, `fingerprint: OLD "abc", NEW "def"`) {
		t.Errorf("the diff names both fingerprints:\n%s", errs)
	}
}

func TestCompareFormats(t *testing.T) {
	summary := filepath.Join(t.TempDir(), "summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	code, out, errs := runCmd(t, "compare", "--format", "json", td+"base.txt", td+"slower.txt")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep struct {
		Case        string `json:"case"`
		Regressions int    `json:"regressions"`
		Metrics     []struct {
			Unit    string   `json:"unit"`
			Change  *float64 `json:"change"`
			P       float64  `json:"p"`
			MDE     *float64 `json:"mde"`
			MDENote string   `json:"mde_note"`
			Verdict string   `json:"verdict"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out)
	}
	if rep.Case != "PerfX" || rep.Regressions != 2 || len(rep.Metrics) != 5 {
		t.Errorf("got %+v", rep)
	}
	for _, m := range rep.Metrics {
		switch m.Unit {
		case "itl-p50-sec":
			if m.Verdict != "regression" || m.Change == nil || *m.Change < 0.15 || m.MDE == nil {
				t.Errorf("itl-p50-sec: %+v", m)
			}
		case "error-rate":
			if m.MDE != nil || m.MDENote != "n/a" || m.Verdict != "unchanged" {
				t.Errorf("error-rate: %+v", m)
			}
		}
	}
	md, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### perfgate: PerfX: 2 metrics regressed", "| `itl-p50-sec` |", "**REGRESSION**"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("step summary lacks %q:\n%s", want, md)
		}
	}
	// Markdown on stdout too; a second run appends.
	_, out, _ = runCmd(t, "compare", td+"base.txt", td+"same.txt", "--format", "markdown")
	if !strings.HasPrefix(out, "### perfgate: PerfX: no regression") {
		t.Errorf("markdown:\n%s", out)
	}
	md, _ = os.ReadFile(summary)
	if strings.Count(string(md), "### perfgate:") != 2 {
		t.Errorf("step summary not appended to:\n%s", md)
	}
}

func TestCompareHelp(t *testing.T) {
	code, out, _ := runCmd(t, "compare", "-h")
	if code != 0 || !strings.Contains(out, "Exit status: 0 no regression (INCONCLUSIVE included, unless --strict), 1 regression, 2 bad\ninput") || !strings.Contains(out, "3 UNDECIDED") {
		t.Errorf("exit %d, help:\n%s", code, out)
	}
}
