package profile

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/perfgate/perfgate/backends/mock"
)

func relErr(got, want float64) float64 { return math.Abs(got-want) / math.Abs(want) }

// Profiling the simulator on the virtual clock recovers the profile it runs, coefficient
// by coefficient: the timings are the engine's own, so only the search and the fits are
// under test here (perfgate profile --self-test measures the same over HTTP).
func TestRunRecoversSimulatorProfile(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  mock.Config
	}{
		{"dynamo-default", mock.Config{}},
		{"small-cache", mock.Config{NumGPUBlocks: 2048, Profile: mock.Profile{Name: "x", PrefillMS: []float64{8, 0.03, 1e-6}, DecodeMS: []float64{4, 20, 10}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lines int
			res, err := Run(t.Context(), Simulated(tc.cfg), Options{Logf: func(string, ...any) { lines++ }})
			if err != nil {
				t.Fatal(err)
			}
			want := tc.cfg.Profile
			if want.IsZero() {
				want = mock.DefaultProfile()
			}
			for i, c := range want.PrefillMS {
				if e := relErr(res.Profile.PrefillMS[i], c); e > 0.01 {
					t.Errorf("prefill_ms[%d] = %g, want %g (%.2f%% off)", i, res.Profile.PrefillMS[i], c, 100*e)
				}
			}
			for i, c := range want.DecodeMS {
				if e := relErr(res.Profile.DecodeMS[i], c); e > 0.01 {
					t.Errorf("decode_ms[%d] = %g, want %g (%.2f%% off)", i, res.Profile.DecodeMS[i], c, 100*e)
				}
			}
			if res.PrefillFit.R2 < 0.9999 || res.DecodeFit.R2 < 0.999 {
				t.Errorf("R2 prefill %g, decode %g", res.PrefillFit.R2, res.DecodeFit.R2)
			}
			// A searched design: fewer decode bursts than the ISL x concurrency grid.
			if n := len(res.Decode); n < 6 || n > 3*7 {
				t.Errorf("%d decode points", n)
			}
			if res.OverheadMS > 1e-6 || math.Abs(res.ChunkMS-ms(want.PrefillTime(8192))) > 1e-6 {
				t.Errorf("overhead %g ms, chunk %g ms on the virtual clock", res.OverheadMS, res.ChunkMS)
			}
			if lines != len(res.Prefill)+len(res.Decode)+3 {
				t.Errorf("%d log lines for %d points", lines, len(res.Prefill)+len(res.Decode))
			}
			t.Logf("recovered %+v from %d prefill and %d decode points", res.Profile, len(res.Prefill), len(res.Decode))
		})
	}
}

// A burst bigger than the server's running set queues: the sweep marks it saturated and
// tries no higher concurrency at that ISL.
func TestRunStopsOnSaturation(t *testing.T) {
	res, err := Run(t.Context(), Simulated(mock.Config{MaxNumSeqs: 16}), Options{DecodeISLs: []int{1024}, KVFractions: []float64{0.01, 0.03, 0.05, 0.2, 0.4}})
	if err != nil {
		t.Fatal(err)
	}
	last := res.Decode[len(res.Decode)-1]
	sat := 0
	for _, p := range res.Decode {
		if p.Saturated {
			sat++
		}
	}
	if !last.Saturated || sat != 1 || last.Concurrency <= 16 {
		t.Errorf("decode points %+v", res.Decode)
	}
}

func TestFitPoly(t *testing.T) {
	x := []float64{100, 2000, 4000, 8000, 16000}
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = 16.5 + 0.01518*v + 4.21e-7*v*v
	}
	f, err := FitPoly(x, y, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{16.5, 0.01518, 4.21e-7} {
		if relErr(f.Coef[i], want) > 1e-9 {
			t.Errorf("coef %d = %g, want %g", i, f.Coef[i], want)
		}
	}
	if f.R2 != 1 && math.Abs(f.R2-1) > 1e-12 {
		t.Errorf("R2 %g", f.R2)
	}
	if _, err := FitPoly(x[:2], y[:2], 2); err == nil {
		t.Error("2 points fit a quadratic")
	}
	if _, err := FitPoly([]float64{1, 1, 1}, []float64{1, 2, 3}, 2); err == nil {
		t.Error("one x fit a quadratic")
	}
}

// The written profile is one the simulator loads.
func TestWriteFilesLoads(t *testing.T) {
	res, err := Run(t.Context(), Simulated(mock.Config{NumGPUBlocks: 2048}), Options{ISLs: []int{256, 1024, 4096}, DecodeISLs: []int{512}, KVFractions: []float64{0.1, 0.5, 0.9}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path, err := res.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := mock.LoadProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "profiled" || len(p.PrefillMS) != 3 || len(p.DecodeMS) != 3 || p.PrefillMS[0] != res.Profile.PrefillMS[0] {
		t.Errorf("loaded %+v, wrote %+v", p, res.Profile)
	}
	if _, err := os.Stat(filepath.Join(dir, "points.json")); err != nil {
		t.Error(err)
	}
}

// Over HTTP the endpoint prober reads the KV capacity from vllm:cache_config_info and
// returns one timing per request with every token; no figure is checked (timings on a
// shared machine are not a unit test's business: perfgate profile --self-test measures them).
func TestEndpointProber(t *testing.T) {
	srv := mock.Start(t, mock.Config{NumGPUBlocks: 1000, BlockSize: 32, SpeedupRatio: 2})
	p := Endpoint(srv.BaseURL()+"/", EndpointOptions{})
	capacity, err := p.KVCapacity(t.Context())
	if err != nil || capacity != 32000 {
		t.Fatalf("capacity %d, %v", capacity, err)
	}
	ts, err := p.Probe(t.Context(), Burst{ISL: 300, OSL: 5, Concurrency: 3, Requests: 3, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 {
		t.Fatalf("%d timings", len(ts))
	}
	for _, x := range ts {
		if len(x.Tokens) != 5 || x.Tokens[0] < x.Sent || !slices.IsSorted(x.Tokens) {
			t.Errorf("timing %+v", x)
		}
	}
	res, err := Run(t.Context(), p, Options{ISLs: []int{128, 512, 1024}, PrefillRequests: 2, DecodeISLs: []int{512}, OSL: 16, KVFractions: []float64{0.1, 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Prefill) != 3 || len(res.Decode) < 2 || res.KVCapacity != 32000 || res.Profile.Validate() != nil {
		t.Errorf("result %+v", res)
	}
	if _, err := Endpoint("http://127.0.0.1:1", EndpointOptions{}).Probe(t.Context(), Burst{ISL: 10, OSL: 2, Concurrency: 1, Requests: 1}); err == nil {
		t.Error("probing a closed port succeeded")
	}
}
