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
	var ms float64
	if e.plain {
		ms = e.plainStepMS()
	} else {
		ms = e.featureStepMS()
	}
	ms += e.onceMS
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

// plainStepMS is the profile's time of the step planned in e.sched when no feature
// changes a step's cost.
func (e *engine) plainStepMS() float64 {
	prefill, decode, active := 0, false, 0
	for _, it := range e.sched {
		n := int(it.n)
		if it.s.generated > 0 && it.s.computed == it.s.total()-1 && n == 1 {
			decode = true
		} else {
			prefill += n
		}
		active += it.s.computed + n
	}
	return e.profileMS(prefill, active, decode)
}

func (e *engine) profileMS(prefill, active int, decode bool) float64 {
	u := 0.0
	if e.capTok > 0 {
		u = float64(active) / e.capTok
	}
	ms := 0.0
	if prefill > 0 {
		ms += e.prof.prefillMS(prefill)
	}
	if decode {
		ms += e.prof.decodeMS(u)
	}
	return ms
}

// featureStepMS is plainStepMS with the decode term scaled for reasoning and drafting,
// and the grammar's time added.
func (e *engine) featureStepMS() float64 {
	prefill, active := 0, 0
	decodes, reasoning, grammar, draft := 0, 0, 0, 0
	for _, it := range e.sched {
		s, n := it.s, int(it.n)
		if s.generated > 0 && s.computed == s.total()-1 && n == 1+int(it.draft) {
			decodes++
			if s.generated < int(s.reasoning) {
				reasoning++
			}
			draft = max(draft, int(it.draft))
		} else {
			prefill += n
		}
		if s.structured && s.computed+n >= s.total() {
			grammar++
		}
		active += s.computed + n
	}
	ms := e.profileMS(prefill, active, false)
	if decodes > 0 {
		d := e.profileMS(0, active, true)
		if reasoning > 0 {
			d *= 1 + (e.cfg.Reasoning.Slowdown-1)*float64(reasoning)/float64(decodes)
		}
		ms += d * (1 + float64(draft)*e.draftCost)
	}
	return ms + float64(grammar)*e.cfg.StructuredOutput.TokenMS
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
