package mock

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// recycler re-queues every finished sequence as a fresh request with the same prompt, so a
// benchmark keeps a steady number of sequences in the engine without allocating.
type recycler struct {
	nopHooks
	done []*seq
}

func (r *recycler) finished(q *seq, _ time.Duration, _ finishReason) { r.done = append(r.done, q) }

// BenchmarkEngineStep measures the scheduler's hot loop: one op is one engine step with
// 256 sequences in flight (prompt 128, output 512, new requests replacing finished ones,
// so steps mix decodes with short prefills of mostly cached prompts). It reports simulated
// sequence-steps (a sequence scheduled in a step) per second of CPU, and must report
// 0 allocs/op.
//
// The features variant runs every sequence as a reasoning model's answer under a grammar,
// with speculative decoding (3 draft tokens), 256 of them: the step loop stays allocation-free with
// them too.
func BenchmarkEngineStep(b *testing.B) {
	features := Config{Reasoning: Reasoning{Parser: "qwen3", Slowdown: 1.2}, StructuredOutput: StructuredOutput{TokenMS: 0.1},
		Speculative: Speculative{Method: "eagle3", NumSpeculativeTokens: 3}}
	for _, c := range []struct {
		name string
		n    int
		cfg  Config
	}{{"seqs=256", 256, Config{}}, {"seqs=1024", 1024, Config{}}, {"features", 256, features}} {
		n := c.n
		b.Run(c.name, func(b *testing.B) {
			h := &recycler{done: make([]*seq, 0, n)}
			cfg := c.cfg
			cfg.MaxNumSeqs, cfg.NumGPUBlocks = n, n*48
			e := newEngine(cfg, h)
			rng := rand.New(rand.NewPCG(1, 2))
			for range n {
				q := e.newSeq(randTokens(rng, 128), 512)
				q.reasoning, q.structured = 256, c.cfg.StructuredOutput.TokenMS > 0
				e.add(q, 0)
			}
			var now time.Duration
			step := func() int {
				d, _ := e.schedule(now)
				k := len(e.sched)
				now += d
				e.commit(now)
				for _, q := range h.done {
					q.state, q.generated, q.computed, q.hashedBlocks, q.preemptions = stateNew, 0, 0, 0, 0
					e.add(q, now)
				}
				h.done = h.done[:0]
				return k
			}
			for range 2000 { // reach steady state
				step()
			}
			b.ReportAllocs()
			b.ResetTimer()
			seqSteps := 0
			for b.Loop() {
				seqSteps += step()
			}
			b.ReportMetric(float64(seqSteps)/b.Elapsed().Seconds(), "seq-steps/s")
			b.ReportMetric(float64(seqSteps)/float64(b.N), "seqs/step")
		})
	}
}

// BenchmarkSequenceMemory measures the memory one request costs the engine: one op builds
// a sequence from a 512-token prompt with 128 output tokens and queues it (B/op is the
// answer; the prompt itself is not kept, only its block hashes).
func BenchmarkSequenceMemory(b *testing.B) {
	e := newEngine(Config{}, nopHooks{})
	prompt := randTokens(rand.New(rand.NewPCG(1, 2)), 512)
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	for b.Loop() {
		e.add(e.newSeq(prompt, 128), 0)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/float64(b.N), "live-B/seq")
	runtime.KeepAlive(e)
}

// arrivals wraps the server's hooks to record when each request reached the engine.
type arrivals struct {
	hooks
	at map[uint64]time.Duration // first block hash -> engine arrival
}

func (a *arrivals) admitted(q *seq, now time.Duration) {
	if len(q.hashes) > 0 {
		a.at[q.hashes[0]] = q.arrival
	}
	a.hooks.admitted(q, now)
}

// BenchmarkServeClock checks the real-clock server against the profile: 1,000 concurrent
// streaming requests (prompt 128, output 512) at speedup 10. The engine's makespan on the
// real clock (first arrival to last token) is compared with Replay of the same requests,
// arriving when they reached the engine, on the virtual clock: engine-drift-% is the
// difference. client-lag-% is how much later the benchmark's own client saw the last token
// than the engine emitted it, relative to the makespan: it measures the machine (1,000
// streams, client and server sharing its cores), not the simulator. One op is one run.
func BenchmarkServeClock(b *testing.B) {
	const n, isl, osl = 1000, 128, 512
	cfg := Config{SpeedupRatio: 10, MaxNumSeqs: n, NumGPUBlocks: 65536}
	rng := rand.New(rand.NewPCG(3, 4))
	prompts := make([][]int, n)
	bodies := make([]string, n)
	for i := range prompts {
		prompts[i] = randTokens(rng, isl)
		ids := make([]string, isl)
		for j, t := range prompts[i] {
			ids[j] = fmt.Sprint(t)
		}
		bodies[i] = `{"prompt":[` + strings.Join(ids, ",") + fmt.Sprintf(`],"max_tokens":%d,"stream":true}`, osl)
	}
	var drift, lag []float64
	for b.Loop() {
		srv := Start(b, cfg)
		tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}
		c := &http.Client{Transport: tr}
		send := func(body string) (*http.Response, error) {
			return c.Post(srv.BaseURL()+"/v1/completions", "application/json", strings.NewReader(body))
		}
		// Open the connections first, so that the run measures the engine, not TCP set-up.
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				resp, err := send(`{"prompt":[1],"max_tokens":1}`)
				if err == nil {
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		rec := &arrivals{at: map[uint64]time.Duration{}}
		srv.mu.Lock()
		rec.hooks = srv.eng.hooks
		srv.eng.hooks = rec
		srv.mu.Unlock()

		last := make([]time.Time, n)
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				resp, err := send(bodies[i])
				if err != nil {
					errs <- err
					return
				}
				defer resp.Body.Close()
				sc := bufio.NewScanner(resp.Body)
				k := 0
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "data: {") {
						k++
						last[i] = time.Now()
					}
				}
				if k != osl {
					errs <- fmt.Errorf("request %d: %d tokens", i, k)
				}
			})
		}
		wg.Wait()
		tr.CloseIdleConnections()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		srv.mu.Lock()
		engEnd := srv.eng.lastStep
		srv.eng.hooks = rec.hooks
		srv.mu.Unlock()

		reqs := make([]ReplayRequest, n)
		for i, p := range prompts {
			reqs[i] = ReplayRequest{Arrival: rec.at[newSeq(p, osl, DefaultBlockSize).hashes[0]], Tokens: p, MaxTokens: osl}
		}
		slices.SortFunc(reqs, func(x, y ReplayRequest) int { return int(x.Arrival - y.Arrival) })
		first := reqs[0].Arrival
		for i := range reqs {
			reqs[i].Arrival -= first
		}
		_, st := replaySlice(b, cfg, reqs)
		got := engEnd - first
		clientEnd := slices.MaxFunc(last, time.Time.Compare).Sub(srv.created) - first
		drift = append(drift, 100*(float64(got)/float64(st.Makespan)-1))
		lag = append(lag, 100*float64(clientEnd-got)/float64(got))
		b.Logf("engine makespan %v, profile predicts %v; client saw the last token %v later",
			got, st.Makespan, clientEnd-got)
	}
	b.ReportMetric(slices.MaxFunc(drift, func(x, y float64) int { return cmpAbs(x, y) }), "engine-drift-%")
	b.ReportMetric(slices.Max(lag), "client-lag-%")
}

func cmpAbs(x, y float64) int {
	x, y = max(x, -x), max(y, -y)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
