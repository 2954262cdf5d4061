package mock

import (
	"sync/atomic"
	"time"
)

// seqState is where a sequence is in the engine.
type seqState uint8

const (
	stateNew seqState = iota
	stateWaiting
	stateRunning
	stateFinished
)

// finishReason says why a sequence left the engine.
type finishReason uint8

const (
	finishLength finishReason = iota // generated max_tokens
	finishAbort                      // cancelled by the client
	finishStop                       // ended by the model: a grammar completed, a pooling request
)

// seq is one request inside the engine. Prompts are kept only as the chained hashes of
// their full blocks: that is all the cache needs, and it keeps a queued sequence small.
type seq struct {
	id        uint64
	promptLen int
	maxTokens int
	hashes    []uint64 // chained hash of each full prompt block
	blocks    []int32  // KV blocks, in token order

	state      seqState
	cancelled  bool
	structured bool  // every sampled token goes through a grammar
	stop       bool  // the output ends by the model (finish "stop"), not by max_tokens
	pool       bool  // a pooling request: prefill only, no output token
	stepTokens int32 // tokens the last step emitted (1, or more with speculative decoding)
	reasoning  int32 // leading output tokens that are reasoning

	generated    int // tokens generated (emitted)
	computed     int // tokens whose KV is computed
	hashedBlocks int // leading blocks registered in (or taken from) the prefix cache
	cachedTokens int // prefix-cache hit at first admission
	preemptions  int32
	tag          int32  // caller's index (replay)
	schedStep    uint64 // last step that scheduled it (0: never)

	arrival    time.Duration // engine clock
	scheduled  time.Duration // first admission
	firstToken time.Duration
	lastToken  time.Duration
	finished   time.Duration

	// emitted, done and notify are read by the HTTP handler without the engine lock.
	emitted atomic.Int32
	onceMS  float32 // extra time of the step that first schedules it (encoder, grammar compile)
	done    atomic.Bool
	quiet   bool          // notify only when done (a non-streaming response)
	notify  chan struct{} // buffered(1); nil when nobody listens
	rng     uint64        // draft acceptance draws (splitmix64 state), seeded by the prompt
	tc      traceCtx      // the trace the request came with, when traced
	traced  bool
}

func (s *seq) total() int { return s.promptLen + s.generated }

func newSeq(tokens []int, maxTokens, bs int) *seq {
	nb := len(tokens) / bs
	s := &seq{
		promptLen: len(tokens),
		maxTokens: maxTokens,
		hashes:    make([]uint64, nb),
		blocks:    make([]int32, 0, (len(tokens)+maxTokens+bs-1)/bs),
	}
	h := uint64(hashSeed)
	for i := range nb {
		h = hashBlock(h, tokens[i*bs:(i+1)*bs])
		s.hashes[i] = h
	}
	s.rng = hashBlock(h, tokens[nb*bs:]) ^ uint64(maxTokens)
	return s
}

const (
	hashSeed  = 0xcbf29ce484222325
	hashPrime = 0x100000001b3
)

// hashBlock chains a block's tokens onto its parent's hash: a multiply-xor step per token
// and a final avalanche (splitmix64's finaliser).
func hashBlock(parent uint64, tokens []int) uint64 {
	h := parent
	for _, t := range tokens {
		h = (h ^ uint64(t)) * hashPrime
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
