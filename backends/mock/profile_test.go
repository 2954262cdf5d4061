package mock

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProfileDefaults(t *testing.T) {
	p := Profile{}
	// prefill_ms(x) = 4.21e-7 x^2 + 0.01518 x + 16.5
	if got, want := p.PrefillTime(1000), msToDuration(4.21e-7*1e6+15.18+16.5); got != want {
		t.Errorf("PrefillTime(1000) = %v, want %v", got, want)
	}
	// decode_ms(u) = max(1, -25.74 u^2 + 54.01 u + 5.74)
	if got, want := p.DecodeTime(0.5), msToDuration(-25.74*0.25+54.01*0.5+5.74); got != want {
		t.Errorf("DecodeTime(0.5) = %v, want %v", got, want)
	}
	if got := (Profile{DecodeMS: []float64{-5}, PrefillMS: []float64{1}, DecodeMinMS: 1}).DecodeTime(0); got != time.Millisecond {
		t.Errorf("decode floor: %v", got)
	}
	if p.PrefillTime(0) != 0 || p.StepTime(0, false, 0) != 0 {
		t.Error("empty step takes time")
	}
	if got, want := p.StepTime(100, true, 0.1), p.PrefillTime(100)+p.DecodeTime(0.1); got-want > 1 || want-got > 1 {
		t.Errorf("StepTime %v, want %v", got, want)
	}
	l := LinearProfile()
	if l.PrefillTime(100) != 55*time.Millisecond || l.DecodeTime(0.9) != 12*time.Millisecond {
		t.Errorf("linear %v %v", l.PrefillTime(100), l.DecodeTime(0.9))
	}
}

func TestProfileScaled(t *testing.T) {
	p := Profile{}.Scaled(1, 1.2)
	d := DefaultProfile()
	if got, want := p.DecodeTime(0.3), msToDuration(1.2*d.decodeMS(0.3)); got != want {
		t.Errorf("scaled decode %v, want %v", got, want)
	}
	if p.PrefillTime(512) != d.PrefillTime(512) {
		t.Error("prefill changed")
	}
	if d.PrefillMS[1] != 0.01518 || DefaultProfile().DecodeMS[0] != 5.74 {
		t.Error("Scaled changed its receiver")
	}
	// A slowed simulator runs slower on the virtual clock, by the factor.
	rng := rand.New(rand.NewPCG(1, 1))
	reqs := []ReplayRequest{{Tokens: randTokens(rng, 100), MaxTokens: 50}}
	_, base := replaySlice(t, Config{}, reqs)
	_, slow := replaySlice(t, Config{Profile: Profile{}.Scaled(2, 2)}, reqs)
	if r := float64(slow.Makespan) / float64(base.Makespan); r < 1.999 || r > 2.001 {
		t.Errorf("2x profile: makespan ratio %v", r)
	}
	_, fast := replaySlice(t, Config{SpeedupRatio: 4}, reqs)
	if r := float64(base.Makespan) / float64(fast.Makespan); r < 3.999 || r > 4.001 {
		t.Errorf("speedup 4: makespan ratio %v", r)
	}
}

func TestLoadProfile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "p.json")
	os.WriteFile(good, []byte(`{"name":"h100","prefill_ms":[10,0.02],"decode_ms":[8,20],"decode_min_ms":2}`), 0o644)
	p, err := LoadProfile(good)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "h100" || p.PrefillTime(100) != 12*time.Millisecond || p.DecodeTime(0.5) != 18*time.Millisecond {
		t.Fatalf("profile %+v", p)
	}
	for name, body := range map[string]string{
		"empty.json":    `{}`,
		"syntax.json":   `{"prefill_ms":[1,`,
		"negative.json": `{"prefill_ms":[-50],"decode_ms":[1]}`,
		"nodecode.json": `{"prefill_ms":[1]}`,
	} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(body), 0o644)
		if _, err := LoadProfile(path); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v", name, err)
		}
	}
	if _, err := LoadProfile(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing file loaded")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	err := Config{SpeedupRatio: -1, BlockSize: -16, Noise: -1, MaxModelLen: 1 << 30, Faults: Faults{ErrorRate: 2}}.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"SpeedupRatio", "BlockSize", "Noise", "ErrorRate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s: %v", want, err)
		}
	}
	if err := (Config{MaxModelLen: 1 << 20}).Validate(); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("max_model_len over KV: %v", err)
	}
	if err := (Config{MaxModelLen: 1 << 20, UnlimitedKVCache: true}).Validate(); err != nil {
		t.Error(err)
	}
	if _, err := New(Config{Noise: -1}); err == nil {
		t.Error("New accepted a bad config")
	}
}

// Noise is seeded: the same seed gives the same run, another seed another.
func TestNoiseSeeded(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	reqs := []ReplayRequest{{Tokens: randTokens(rng, 300), MaxTokens: 100}}
	_, a := replaySlice(t, Config{Noise: 0.1, Seed: 1}, reqs)
	_, b := replaySlice(t, Config{Noise: 0.1, Seed: 1}, reqs)
	_, c := replaySlice(t, Config{Noise: 0.1, Seed: 2}, reqs)
	_, quiet := replaySlice(t, Config{}, reqs)
	if a.Makespan != b.Makespan || a.Makespan == c.Makespan {
		t.Errorf("makespans %v %v %v", a.Makespan, b.Makespan, c.Makespan)
	}
	// Mean-one noise: the run's total stays near the noiseless one.
	if r := float64(a.Makespan) / float64(quiet.Makespan); r < 0.95 || r > 1.05 {
		t.Errorf("noisy/quiet = %v", r)
	}
}

// Slow start: steps right after the server becomes ready take SlowStartFactor times
// longer, easing to normal over SlowStart.
func TestSlowStart(t *testing.T) {
	e := newEngine(Config{Faults: Faults{SlowStart: time.Second}}, nopHooks{})
	e.ready = time.Second
	rng := rand.New(rand.NewPCG(3, 3))
	step := func(now time.Duration) time.Duration {
		q := e.newSeq(randTokens(rng, 100), 1)
		e.add(q, now)
		d, _ := e.schedule(now)
		e.commit(now + d)
		return d
	}
	base := DefaultProfile().PrefillTime(100)
	for _, tc := range []struct {
		at     time.Duration
		factor float64
	}{{time.Second, 3}, {1500 * time.Millisecond, 2}, {2 * time.Second, 1}, {time.Hour, 1}} {
		if got, want := step(tc.at), time.Duration(tc.factor*float64(base)); got-want > 10 || want-got > 10 {
			t.Errorf("at %v: step %v, want %v", tc.at, got, want)
		}
	}
}
