package mock

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/perfgate/perfgate/internal/readfile"
)

// Profile is the step-time model of the simulated engine. A step's time is
//
//	prefill(x) + decode(u)
//
// where x is the number of uncached prompt tokens the step computes (all prefill chunks of
// the step together; the term is left out when x is 0) and u is the fraction of the KV cache
// the step's sequences occupy (the term is left out when the step decodes no sequence).
// Both are polynomials with coefficients in milliseconds, lowest order first; the decode
// term is clamped below at DecodeMinMS.
//
// The zero Profile is [DefaultProfile]. A profile file (see [LoadProfile]) is this struct as
// JSON:
//
//	{"name": "h100-llama-8b", "prefill_ms": [16.5, 0.01518, 4.21e-7], "decode_ms": [5.74, 54.01, -25.74], "decode_min_ms": 1}
type Profile struct {
	// Name says where the coefficients come from; it is informational.
	Name string `json:"name,omitempty"`
	// PrefillMS are the coefficients of prefill time in ms as a polynomial in the step's
	// uncached prompt tokens: PrefillMS[0] + PrefillMS[1]*x + PrefillMS[2]*x^2 + ...
	PrefillMS []float64 `json:"prefill_ms"`
	// DecodeMS are the coefficients of decode time in ms as a polynomial in u, the active
	// KV tokens of the step divided by the KV cache capacity in tokens.
	DecodeMS []float64 `json:"decode_ms"`
	// DecodeMinMS is the least decode time of a step that decodes, in ms.
	DecodeMinMS float64 `json:"decode_min_ms,omitempty"`
}

// DefaultProfile is the step-time model of NVIDIA Dynamo's mocker:
// prefill_ms(x) = 4.21e-7 x^2 + 0.01518 x + 16.5 and
// decode_ms(u) = max(1, -25.74 u^2 + 54.01 u + 5.74).
func DefaultProfile() Profile {
	return Profile{
		Name:        "polynomial",
		PrefillMS:   []float64{16.5, 0.01518, 4.21e-7},
		DecodeMS:    []float64{5.74, 54.01, -25.74},
		DecodeMinMS: 1,
	}
}

// LinearProfile is a simple linear model: 30 ms plus 0.25 ms per uncached prompt token for
// prefill, 12 ms per decode step.
func LinearProfile() Profile {
	return Profile{
		Name:      "linear",
		PrefillMS: []float64{30, 0.25},
		DecodeMS:  []float64{12},
	}
}

// IsZero reports whether p is the zero Profile (which means [DefaultProfile]).
func (p Profile) IsZero() bool {
	return p.Name == "" && len(p.PrefillMS) == 0 && len(p.DecodeMS) == 0 && p.DecodeMinMS == 0
}

func (p Profile) resolved() Profile {
	if p.IsZero() {
		return DefaultProfile()
	}
	return p
}

// Scaled returns a copy of p whose prefill times are multiplied by prefill and whose decode
// times are multiplied by decode. Tests use it to inject a regression: Scaled(1, 1.2) makes
// every token 20% slower. The zero Profile is scaled as [DefaultProfile].
func (p Profile) Scaled(prefill, decode float64) Profile {
	p = p.resolved()
	q := Profile{Name: p.Name, DecodeMinMS: p.DecodeMinMS * decode}
	if prefill != 1 || decode != 1 {
		q.Name = fmt.Sprintf("%s*%g/%g", p.Name, prefill, decode)
	}
	q.PrefillMS = slices.Clone(p.PrefillMS)
	for i := range q.PrefillMS {
		q.PrefillMS[i] *= prefill
	}
	q.DecodeMS = slices.Clone(p.DecodeMS)
	for i := range q.DecodeMS {
		q.DecodeMS[i] *= decode
	}
	return q
}

// Validate reports every problem with the profile at once.
func (p Profile) Validate() error {
	p = p.resolved()
	var errs []error
	if len(p.PrefillMS) == 0 {
		errs = append(errs, errors.New("profile: prefill_ms needs at least one coefficient"))
	}
	if len(p.DecodeMS) == 0 {
		errs = append(errs, errors.New("profile: decode_ms needs at least one coefficient"))
	}
	for _, c := range slices.Concat(p.PrefillMS, p.DecodeMS, []float64{p.DecodeMinMS}) {
		if math.IsNaN(c) || math.IsInf(c, 0) {
			errs = append(errs, fmt.Errorf("profile: coefficient %v is not finite", c))
			break
		}
	}
	if len(errs) == 0 {
		for _, x := range []int{1, 16, 512, 8192, 65536} {
			if v := p.prefillMS(x); !(v > 0) {
				errs = append(errs, fmt.Errorf("profile: prefill time of %d tokens is %g ms, must be > 0", x, v))
				break
			}
		}
		for _, u := range []float64{0, 0.25, 0.5, 0.75, 1} {
			if v := p.decodeMS(u); !(v > 0) {
				errs = append(errs, fmt.Errorf("profile: decode time at KV fraction %g is %g ms, must be > 0", u, v))
				break
			}
		}
	}
	return errors.Join(errs...)
}

func poly(c []float64, x float64) float64 {
	v := 0.0
	for i := len(c) - 1; i >= 0; i-- {
		v = v*x + c[i]
	}
	return v
}

func (p Profile) prefillMS(tokens int) float64 { return poly(p.PrefillMS, float64(tokens)) }

func (p Profile) decodeMS(u float64) float64 { return max(p.DecodeMinMS, poly(p.DecodeMS, u)) }

func msToDuration(ms float64) time.Duration { return time.Duration(math.Round(ms * 1e6)) }

// PrefillTime is the profile's time to prefill the given number of uncached prompt tokens
// in one step (0 for 0 tokens), before any speedup ratio.
func (p Profile) PrefillTime(tokens int) time.Duration {
	if tokens <= 0 {
		return 0
	}
	return msToDuration(p.resolved().prefillMS(tokens))
}

// DecodeTime is the profile's time of one decode step when the running sequences occupy the
// fraction kvFraction of the KV cache, before any speedup ratio.
func (p Profile) DecodeTime(kvFraction float64) time.Duration {
	return msToDuration(p.resolved().decodeMS(kvFraction))
}

// StepTime is the time of one engine step that prefills prefillTokens uncached tokens and,
// if decode is true, decodes one token for each of its decoding sequences, which together
// with the prefilling ones occupy the fraction kvFraction of the KV cache.
func (p Profile) StepTime(prefillTokens int, decode bool, kvFraction float64) time.Duration {
	p = p.resolved()
	ms := 0.0
	if prefillTokens > 0 {
		ms += p.prefillMS(prefillTokens)
	}
	if decode {
		ms += p.decodeMS(kvFraction)
	}
	return msToDuration(ms)
}

// ParseProfile decodes a profile from JSON (the format of [Profile]) and validates it.
func ParseProfile(data []byte) (Profile, error) {
	var p Profile
	if err := json.Unmarshal(data, &p); err != nil {
		return Profile{}, fmt.Errorf("parse profile: %w", err)
	}
	if p.IsZero() {
		return Profile{}, errors.New("parse profile: no coefficients")
	}
	if err := p.Validate(); err != nil {
		return Profile{}, fmt.Errorf("parse profile: %w", err)
	}
	return p, nil
}

// LoadProfile reads a JSON profile file (see [Profile]).
func LoadProfile(path string) (Profile, error) {
	data, err := readfile.Read(path, 1<<20) // a profile is a few hundred bytes
	if err != nil {
		return Profile{}, fmt.Errorf("load profile: %w", err)
	}
	p, err := ParseProfile(data)
	if err != nil {
		return Profile{}, fmt.Errorf("load profile %s: %w", path, err)
	}
	return p, nil
}
