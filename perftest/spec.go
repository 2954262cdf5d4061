package perftest

import (
	"github.com/perfgate/perfgate/perftest/metric"
	"github.com/perfgate/perfgate/perftest/resultfile"
)

// specMetrics are the speculative-decoding figures of the window, for an engine that maps
// them (MetricsSource) and a server that drafted during the repetition:
//
//   - server-spec-acceptance-rate: accepted draft tokens over draft tokens, from counters
//     (vLLM's spec_decode_num_accepted_tokens and _num_draft_tokens, TensorRT-LLM's), or
//     else the mean of a gauge of it sampled during the repetition (SGLang's
//     spec_accept_rate, by SGLang's own definition);
//   - server-spec-accepted-per-draft: accepted draft tokens per draft (vLLM's
//     spec_decode_num_drafts counts the drafts: one per request per verification step), or
//     else the mean tokens per verification step less the one the target model adds itself
//     (SGLang's spec_accept_length, TensorRT-LLM's spec_decode_acceptance_length).
//
// delta is the counters' change over the window (false: not both read).
func (w *serverWindow) specMetrics(delta func(string) (float64, bool)) []resultfile.Metric {
	var m []resultfile.Metric
	accepted, okAccepted := delta(keySpecAcceptedTokens)
	drafted, okDrafted := delta(keySpecDraftTokens)
	length, hasLength := w.mean(keySpecAcceptLength)
	// A gauge of the accept length reads 0 on a server that does not speculate, 1 or more on
	// one that does (the target's own token counts).
	speculates := !hasLength || length >= 1
	switch rate, hasRate := w.mean(keySpecAcceptance); {
	case okAccepted && okDrafted && drafted > 0:
		m = append(m, resultfile.Metric{Unit: metric.ServerSpecAcceptance, Value: min(accepted/drafted, 1)})
	case hasRate && speculates && (hasLength || rate > 0):
		m = append(m, resultfile.Metric{Unit: metric.ServerSpecAcceptance, Value: min(max(rate, 0), 1)})
	}
	switch drafts, ok := delta(keySpecDrafts); {
	case ok && okAccepted && drafts > 0:
		m = append(m, resultfile.Metric{Unit: metric.ServerSpecPerDraft, Value: accepted / drafts})
	case hasLength && length >= 1:
		m = append(m, resultfile.Metric{Unit: metric.ServerSpecPerDraft, Value: length - 1})
	}
	return m
}

// mean is the mean of a gauge sampled during the window.
func (w *serverWindow) mean(key string) (float64, bool) {
	if w.n[key] == 0 {
		return 0, false
	}
	return w.sum[key] / w.n[key], true
}
