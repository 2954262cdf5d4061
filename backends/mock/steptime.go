package mock

import (
	"math"
	"time"
)

// stepTime is the duration of the step planned in e.sched, starting at now: the profile's
// prefill time of its new tokens plus its decode time at the KV usage the step reaches,
// scaled for reasoning and drafting and with the grammar and one-off costs added (see
// Reasoning, Speculative, StructuredOutput, Multimodal), divided by the speedup ratio, with
// noise and a slow start applied.
func (e *engine) stepTime(now time.Duration) time.Duration {
	prefill, active := 0, 0
	decodes, reasoning, grammar, draft := 0, 0, 0, 0
	for _, it := range e.sched {
		s := it.s
		if s.generated > 0 && s.computed == s.total()-1 && it.n == 1+it.draft {
			decodes++
			if s.generated < s.reasoning {
				reasoning++
			}
			draft = max(draft, it.draft)
		} else {
			prefill += it.n
		}
		if s.structured && s.computed+it.n >= s.total() {
			grammar++
		}
		active += s.computed + it.n
	}
	u := 0.0
	if e.capTok > 0 {
		u = float64(active) / e.capTok
	}
	ms := 0.0
	if prefill > 0 {
		ms += e.prof.prefillMS(prefill)
	}
	if decodes > 0 {
		d := e.prof.decodeMS(u)
		if reasoning > 0 {
			d *= 1 + (e.cfg.Reasoning.Slowdown-1)*float64(reasoning)/float64(decodes)
		}
		ms += d * (1 + float64(draft)*e.draftCost)
	}
	ms += float64(grammar)*e.cfg.StructuredOutput.TokenMS + e.onceMS
	e.onceMS = 0
	ms /= e.cfg.SpeedupRatio
	if e.noise != nil {
		sd := e.cfg.Noise
		ms *= math.Exp(sd*e.noise.NormFloat64() - sd*sd/2)
	}
	if f := e.cfg.Faults; f.SlowStart > 0 && now-e.ready < f.SlowStart {
		frac := float64(now-e.ready) / float64(f.SlowStart)
		ms *= f.SlowStartFactor - (f.SlowStartFactor-1)*max(0, frac)
	}
	return max(msToDuration(ms), 1)
}

// drafts is how many draft tokens s proposes in a decode step: k, but none past its
// max_tokens.
func (e *engine) drafts(s *seq) int {
	if e.k == 0 {
		return 0
	}
	return max(0, min(e.k, s.maxTokens-s.generated-1))
}

// verify draws how many of a decode step's draft tokens the target accepts: the leading
// ones whose draws fall under their position's acceptance probability. It counts them in
// vLLM's counters.
func (e *engine) verify(s *seq, draft int) int {
	a := 0
	for a < draft {
		s.rng += 0x9e3779b97f4a7c15 // splitmix64
		z := s.rng
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		if float64(z>>11)/(1<<53) >= e.accept[a] {
			break
		}
		e.spec.perPos[a]++
		a++
	}
	e.spec.drafts++
	e.spec.draftTokens += int64(draft)
	e.spec.accepted += int64(a)
	return a
}
