// Package profile measures an inference endpoint's step times and fits them to the
// simulator's step-time profile, after NVIDIA Dynamo's profile_endpoint.py: profile a real
// server once on a GPU runner, then run the same perf cases in GPU-free CI on a simulator
// (perfgate mock --profile FILE) that behaves like that server.
//
// [Run] does two sweeps through a [Prober] (an [Endpoint], or the simulator on the virtual
// clock, [Simulated]):
//
//   - Prefill: one request at a time at prompt lengths from 128 tokens up to MaxISL (the
//     server's token budget per step, vLLM's max_num_batched_tokens, so that one step
//     computes a whole prompt), PrefillRequests each, unique prompts so that nothing hits
//     a cache. The median TTFT per length is fitted with a quadratic in the prompt length.
//     TTFT also carries a fixed overhead (the request's trip through client, network and
//     server); a prompt of MaxISL + y tokens takes two steps, so TTFT(MaxISL + y) -
//     TTFT(y) is one step of MaxISL tokens without it, which splits the fit's intercept
//     into the step's and the overhead: the profile's prefill_ms is the step's part.
//     Prefill throughput is ISL / TTFT.
//   - Decode: bursts of c requests sent together, prompt length ISL and OSL output tokens,
//     for a few ISLs and, for each, concurrencies chosen to put the KV cache at target
//     fractions (5% to 95% of the capacity the server reports in vllm:cache_config_info,
//     or Options.KVCapacity): a searched design, not the exhaustive ISL x concurrency grid,
//     with one bisection per ISL between the two neighbours whose ITL differs most (when by
//     more than 25%). Once
//     all of a burst's requests have their first token and before the first one ends, they
//     decode together: the gap before token j of the median request is one decode step
//     with KV fraction u = c (ISL + j) / capacity. Every (u, gap) pair of every burst is
//     fitted with a quadratic in u: the profile's decode_ms. A burst whose requests never
//     all decode at once (the server queued or preempted some) is saturated, and higher
//     concurrencies at that ISL are not tried.
//
// The Result holds the fitted [mock.Profile], every measured point, and both fits with
// their R²; WriteFiles writes the profile and the points ([Plot] draws them).
//
// On the virtual clock ([Simulated]) the simulator's coefficients come back to 1e-6.
// Over HTTP on the 2-core development box, `perfgate profile --self-test` (the simulator
// served in-process with Dynamo's default profile) took 1m44s and recovered the decode
// coefficients within 0.23%, the prefill slope within 0.75%, the curvature within 1-3.2%
// and the intercept at -5.5%, +3.0% and +1.3% in three runs (2026-12-02, load average
// 0.4-2.7); a simulator with the recovered profile reproduced the original's TTFT and ITL
// p50/p90/p99 within 1.3% on a concurrency sweep of 1 to 128.
package profile

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/perfgate/perfgate/backends/mock"
)

// Burst is one measurement: Requests requests of ISL prompt and OSL output tokens, at most
// Concurrency in flight (all sent at once when Requests <= Concurrency), prompts drawn from
// Seed, each sent Repeat times in a row (0 or 1: every prompt unique).
type Burst struct {
	ISL, OSL, Concurrency, Requests, Repeat int
	Seed                                    uint64
}

// Timing is what the prober saw of one request of a burst: its position in the burst, when
// it was sent and when each token arrived (both from the start of the burst), and the
// prompt tokens the server reported cached.
type Timing struct {
	Index  int
	Sent   time.Duration
	Tokens []time.Duration
	Cached int
}

// Prober runs bursts against a server.
type Prober interface {
	// Probe runs b and returns one timing per request that finished with OSL tokens.
	Probe(ctx context.Context, b Burst) ([]Timing, error)
	// KVCapacity is the server's KV cache size in tokens (0 when it does not say).
	KVCapacity(ctx context.Context) (int, error)
}

// Options tune the sweeps. The zero value is the default design.
type Options struct {
	// ISLs are the prefill sweep's prompt lengths (default: 128, 256, 512, 1024, 2048,
	// 3072, 4096, 6144, 8192, those up to MaxISL).
	ISLs []int
	// MaxISL bounds the prefill sweep (default 8192, vLLM's max_num_batched_tokens): above
	// the token budget of a step a prompt takes several steps and TTFT is their sum.
	MaxISL int
	// PrefillRequests is the number of prompts per prefill length, each sent twice
	// (default 15).
	PrefillRequests int
	// DecodeISLs are the decode sweep's prompt lengths (default 1024, 2048, 4096).
	DecodeISLs []int
	// OSL is the decode bursts' output length (default 64).
	OSL int
	// KVFractions are the KV-cache fractions the decode design aims at (default 0.05, 0.2,
	// 0.4, 0.6, 0.8, 0.95).
	KVFractions []float64
	// KVCapacity is the server's KV cache in tokens when the prober cannot tell (0: ask).
	KVCapacity int
	// MaxConcurrency bounds a decode burst (default 256, vLLM's max_num_seqs).
	MaxConcurrency int
	// Name names the profile (default "profiled").
	Name string
	// Logf receives a line per measured point (nil: none).
	Logf func(format string, args ...any)
}

func (o Options) withDefaults() Options {
	if o.MaxISL == 0 {
		o.MaxISL = 8192
	}
	if len(o.ISLs) == 0 {
		for _, n := range []int{128, 256, 512, 1024, 2048, 3072, 4096, 6144, 8192} {
			if n <= o.MaxISL {
				o.ISLs = append(o.ISLs, n)
			}
		}
	}
	if o.PrefillRequests == 0 {
		o.PrefillRequests = 15
	}
	if len(o.DecodeISLs) == 0 {
		o.DecodeISLs = []int{1024, 2048, 4096}
	}
	if o.OSL == 0 {
		o.OSL = 64
	}
	if len(o.KVFractions) == 0 {
		o.KVFractions = []float64{0.05, 0.2, 0.4, 0.6, 0.8, 0.95}
	}
	if o.MaxConcurrency == 0 {
		o.MaxConcurrency = 256
	}
	if o.Name == "" {
		o.Name = "profiled"
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// PrefillPoint is one prompt length of the prefill sweep.
type PrefillPoint struct {
	ISL int `json:"isl"`
	// TTFTms are the requests' times to first token; MedianMS their median.
	TTFTms   []float64 `json:"ttft_ms"`
	MedianMS float64   `json:"median_ms"`
	// TokensPerSec is the prefill throughput, ISL / median TTFT.
	TokensPerSec float64 `json:"tokens_per_s"`
}

// DecodeStep is a decode sample: a KV fraction and the step time there.
type DecodeStep struct {
	KVFraction float64 `json:"kv_fraction"`
	MS         float64 `json:"ms"`
}

// DecodePoint is one burst of the decode sweep.
type DecodePoint struct {
	ISL         int `json:"isl"`
	Concurrency int `json:"concurrency"`
	// Samples hold each request's mean step time while all of the burst decoded together.
	Samples []DecodeStep `json:"samples,omitempty"`
	// ITLms is the median of those, the point's step time; TokensPerSec the decode
	// throughput, Concurrency / ITL.
	ITLms        float64 `json:"itl_ms"`
	TokensPerSec float64 `json:"tokens_per_s"`
	// KVFraction is the KV fraction in the middle of that window.
	KVFraction float64 `json:"kv_fraction"`
	// Saturated says the requests never all decoded at once (the server queued or
	// preempted some): the sweep stopped there at this ISL.
	Saturated bool `json:"saturated,omitempty"`
}

// Result is a profile run's outcome.
type Result struct {
	// Profile is the fitted step-time profile, in the format perfgate mock --profile reads.
	Profile mock.Profile `json:"profile"`
	// KVCapacity is the KV cache size in tokens the decode fit is relative to.
	KVCapacity int `json:"kv_capacity"`
	// PrefillFit fits the median TTFT (ms) against the prompt length; DecodeFit the decode
	// step time (ms) against the KV fraction.
	PrefillFit Fit `json:"prefill_fit"`
	DecodeFit  Fit `json:"decode_fit"`
	// Prefill and Decode are the measured points, in the order they ran.
	Prefill []PrefillPoint `json:"prefill"`
	Decode  []DecodePoint  `json:"decode"`
	// OverheadMS is the part of TTFT that is not prefill: the request's trip through the
	// client, the network and the server before and after its step (see chunkIntercept).
	// The profile leaves it out: a simulator served over HTTP adds its own.
	OverheadMS float64 `json:"overhead_ms"`
	// ChunkMS is the measured time of one full prefill step of MaxISL tokens.
	ChunkMS float64 `json:"chunk_ms"`
	// Elapsed is the wall time of the run.
	Elapsed time.Duration `json:"elapsed_ns"`
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// Run profiles the server behind p.
func Run(ctx context.Context, p Prober, opt Options) (*Result, error) {
	opt = opt.withDefaults()
	start := time.Now()
	res := &Result{}
	seed := uint64(1)
	if err := prefillSweep(ctx, p, opt, res, &seed); err != nil {
		return res, err
	}
	// Decode: a searched design over ISL x concurrency.
	capacity, err := kvCapacity(ctx, p, opt)
	if err != nil {
		return res, err
	}
	res.KVCapacity = capacity
	d := &decodeSweep{ctx: ctx, p: p, opt: opt, res: res, capacity: capacity, seed: &seed}
	for _, isl := range opt.DecodeISLs {
		if err := d.sweep(isl); err != nil {
			return res, err
		}
	}
	if err := fitDecode(res, opt.Name, d.us, d.gs); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// kvCapacity is the KV cache size in tokens: opt's, else what the server reports.
func kvCapacity(ctx context.Context, p Prober, opt Options) (int, error) {
	capacity := opt.KVCapacity
	if capacity == 0 {
		var err error
		if capacity, err = p.KVCapacity(ctx); err != nil {
			return 0, fmt.Errorf("profile: %w", err)
		}
	}
	if capacity <= 0 {
		return 0, errors.New("profile: the server does not report its KV cache size (vllm:cache_config_info); give it (--kv-capacity)")
	}
	return capacity, nil
}

// decodeSweep runs the decode bursts and collects the (KV fraction, step) points of those
// that did not saturate.
type decodeSweep struct {
	ctx      context.Context
	p        Prober
	opt      Options
	res      *Result
	capacity int
	seed     *uint64
	us, gs   []float64
}

// sweep measures one ISL at the concurrencies that put the KV cache at opt.KVFractions,
// until one saturates, then bisects the neighbours whose ITL differs most, if by more
// than 25%.
func (d *decodeSweep) sweep(isl int) error {
	var done []DecodePoint
	for _, c := range decodeConcurrencies(isl, d.capacity, d.opt) {
		pt, err := d.measure(isl, c)
		if err != nil {
			return err
		}
		if pt.Saturated {
			break // higher concurrencies only queue more
		}
		done = append(done, pt)
	}
	best, jump := -1, 1.25
	for i := 1; i < len(done); i++ {
		if r := done[i].ITLms / done[i-1].ITLms; r > jump && done[i].Concurrency-done[i-1].Concurrency > 1 {
			best, jump = i, r
		}
	}
	if best > 0 {
		if _, err := d.measure(isl, (done[best-1].Concurrency+done[best].Concurrency)/2); err != nil {
			return err
		}
	}
	return nil
}

// decodeConcurrencies are the distinct concurrencies that put the KV cache at each of
// opt.KVFractions for prompts of isl tokens, capped by opt.MaxConcurrency and the capacity.
func decodeConcurrencies(isl, capacity int, opt Options) []int {
	ctxTok := float64(isl) + float64(opt.OSL)/2
	var concs []int
	for _, u := range opt.KVFractions {
		c := int(math.Round(u * float64(capacity) / ctxTok))
		c = min(max(c, 1), opt.MaxConcurrency)
		if float64(c)*float64(isl+opt.OSL) > float64(capacity) {
			c = capacity / (isl + opt.OSL)
		}
		if c >= 1 && !slices.Contains(concs, c) {
			concs = append(concs, c)
		}
	}
	return concs
}

// measure runs one burst of c requests with prompts of isl tokens and records its point.
func (d *decodeSweep) measure(isl, c int) (DecodePoint, error) {
	*d.seed++
	ts, err := d.p.Probe(d.ctx, Burst{ISL: isl, OSL: d.opt.OSL, Concurrency: c, Requests: c, Seed: *d.seed})
	if err != nil {
		return DecodePoint{}, fmt.Errorf("profile: decode at ISL %d, concurrency %d: %w", isl, c, err)
	}
	pt := decodePoint(isl, c, d.capacity, ts, d.opt.OSL)
	d.res.Decode = append(d.res.Decode, pt)
	if !pt.Saturated {
		d.us, d.gs = append(d.us, pt.KVFraction), append(d.gs, pt.ITLms)
	}
	d.opt.Logf("profile: decode ISL %d concurrency %d: KV %.3f, ITL %.2f ms (%.0f tokens/s)%s", isl, c, pt.KVFraction, pt.ITLms, pt.TokensPerSec,
		map[bool]string{true: ", saturated", false: ""}[pt.Saturated])
	return pt, nil
}

// fitDecode fits the decode steps gs against the KV fractions us and sets res.Profile.
func fitDecode(res *Result, name string, us, gs []float64) error {
	if len(us) < 3 {
		return fmt.Errorf("profile: decode: %d bursts decoded without saturating, the fit needs 3: lower the KV fractions or the decode ISLs", len(us))
	}
	var err error
	if res.DecodeFit, err = FitPoly(us, gs, 2); err != nil {
		return fmt.Errorf("profile: decode: %w", err)
	}
	res.Profile = mock.Profile{Name: name, PrefillMS: res.PrefillFit.Coef, DecodeMS: res.DecodeFit.Coef}
	minGap := math.Inf(1)
	for _, g := range gs {
		minGap = min(minGap, g)
	}
	// The fit is only known where it was measured; below the smallest step measured it is
	// held at half of it, so an extrapolation cannot reach zero.
	res.Profile.DecodeMinMS = max(math.Round(minGap*500)/1000, 0.001)
	if err := res.Profile.Validate(); err != nil {
		return fmt.Errorf("profile: the fitted profile is not usable: %w", err)
	}
	return nil
}

// decodePoint turns a burst's timings into one decode sample per request: the mean gap
// between its tokens inside the window where every request had its first token and none
// had finished (a slope over many steps, which the jitter of single chunks, or a client
// reading several at once, does not move), and the KV fraction in the middle of that
// window, counting for every request of the burst its prompt and the tokens it had then.
func decodePoint(isl, c, capacity int, ts []Timing, osl int) DecodePoint {
	pt := DecodePoint{ISL: isl, Concurrency: c}
	if len(ts) < c {
		pt.Saturated = true
		return pt
	}
	lo, hi := time.Duration(0), time.Duration(math.MaxInt64)
	for _, t := range ts {
		if len(t.Tokens) < osl || len(t.Tokens) < 2 {
			pt.Saturated = true
			return pt
		}
		lo = max(lo, t.Tokens[0])
		hi = min(hi, t.Tokens[len(t.Tokens)-1])
	}
	mid := lo + (hi-lo)/2
	active := 0
	for _, q := range ts {
		n, _ := slices.BinarySearch(q.Tokens, mid)
		active += isl + n
	}
	u := float64(active) / float64(capacity)
	var gaps []float64
	for _, t := range ts {
		a, _ := slices.BinarySearch(t.Tokens, lo) // first token at or after lo
		b, found := slices.BinarySearch(t.Tokens, hi)
		if !found {
			b--
		}
		if b-a < max(2, osl/4) {
			continue
		}
		g := ms(t.Tokens[b]-t.Tokens[a]) / float64(b-a)
		gaps = append(gaps, g)
		pt.Samples = append(pt.Samples, DecodeStep{KVFraction: u, MS: g})
	}
	if 2*len(gaps) < len(ts) {
		pt.Saturated = true // most requests never decoded together for a quarter of OSL
		return pt
	}
	pt.KVFraction = u
	pt.ITLms = median(gaps)
	pt.TokensPerSec = float64(c) / (pt.ITLms / 1e3)
	return pt
}
