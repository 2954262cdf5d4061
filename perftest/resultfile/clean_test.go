package resultfile

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/perfgate/perfgate/perftest/metric"
)

// readBack writes f and parses what was written.
func readBack(t *testing.T, f *File) *File {
	t.Helper()
	var buf bytes.Buffer
	_, err := f.WriteTo(&buf)
	require.NoError(t, err)
	got, err := Parse(&buf, f.Path)
	require.NoError(t, err, "perfgate's reader refuses what its writer wrote:\n%.2000s", buf.String())
	return got
}

// TestWhatIsWrittenIsRead is the cases: an infinite power reading, a 70 KB model
// id and a 266 KB hardware line each made a file perfgate then refused to read.
func TestWhatIsWrittenIsRead(t *testing.T) {
	f := synth(1, 3)
	f.Config = append(f.Config[:2:2], KV{"model", strings.Repeat("m", 70<<10)}, KV{metric.KeyHardware, strings.Repeat("nvidia-h100+", 266<<10/12)})
	f.Reps[1].Metrics = append(f.Reps[1].Metrics, Metric{metric.GPUPower, math.Inf(1)})
	got := readBack(t, f)
	assert.NotContains(t, got.Units, metric.GPUPower, "an infinite reading is no reading")
	model := got.ConfigValue("model")
	assert.LessOrEqual(t, len(model), MaxValue)
	assert.Contains(t, model, "(71680 bytes, sha256 ")
	assert.NotEqual(t, model, Value(strings.Repeat("m", 70<<10-1)+"n"), "two long values stay apart")
	assert.LessOrEqual(t, len(got.ConfigValue(metric.KeyHardware)), MaxValue)
}

// TestWriteReadProperty: for files of hostile names, values and metrics, what WriteTo writes
// Parse reads back as written() says, and writing that again changes nothing.
func TestWriteReadProperty(t *testing.T) {
	for seed := range uint64(400) {
		f := hostileFile(rand.New(rand.NewPCG(seed, 7)))
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			want, err := f.written()
			require.NoError(t, err)
			got := readBack(t, f)
			assert.Equal(t, want, got)
			again, err := want.written()
			require.NoError(t, err)
			assert.Equal(t, want, again, "written is idempotent")
		})
	}
}

// hostileFile is a result file with what servers and tools were seen to hand perfgate:
// names with spaces, line ends and escapes, long and broken-UTF-8 values, values that are
// not finite or not possible, and lines lacking units.
func hostileFile(rng *rand.Rand) *File {
	pieces := []string{"a", "Perf", " ", "\n", "\r", "\t", "\x1b[2J", "|", "<img src=x>", "é", "\xff", ":", "`",
		strings.Repeat("x", 1+rng.IntN(3*MaxValue))}
	str := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	units := []string{metric.TTFTP50, metric.ITLP99, metric.RequestRate, metric.ErrorRate, metric.GPUPower, metric.ServerKVPeak, "custom-thing"}
	vals := []float64{0, 1, 0.5, 1e-9, 3e12, -1, math.Inf(1), math.Inf(-1), math.NaN(), 123.456789012345}
	f := &File{Path: "mem", Name: "Perf" + str(rng.IntN(4)), LowerBetter: map[string]bool{}}
	for i := range 1 + rng.IntN(5) {
		f.Config = append(f.Config, KV{fmt.Sprintf("key%d", i), str(rng.IntN(5))})
	}
	for range 1 + rng.IntN(5) {
		rep := Rep{Iters: rng.IntN(1000)}
		for _, u := range units {
			if rng.IntN(4) > 0 || u == metric.ErrorRate {
				v := vals[rng.IntN(len(vals))]
				if u == metric.ErrorRate {
					v = rng.Float64()
				}
				rep.Metrics = append(rep.Metrics, Metric{u, v})
			}
		}
		f.Append(nil, rep)
	}
	f.LowerBetter["custom-thing"] = true
	return f
}
