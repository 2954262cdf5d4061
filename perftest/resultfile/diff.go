package resultfile

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/perfgate/perfgate/perftest/metric"
)

// Diff says how the setups of two files differ: "" when they describe the same setup,
// else one line per differing key, sorted by key, naming both values, as in
//
//	fingerprint: baseline "abc", current "def"
//	image: baseline "vllm:v1", current absent
//
// with aName and bName ("baseline", "current") labelling the sides. The case name must
// match too, and the files must share a unit: two files with no unit in common (renamed
// units, or another tool's file) measured different things, and the line
//
//	(units): baseline "ttft-p50-sec req/s", current "ttft_p50 rps"
//
// names each side's units. Keys that only say where a run happened or how it went
// (metric.IsNote: goos, goarch, cpu, host, date, commit, pkg, cache-reset, health,
// server-metrics, itl, ...) are not compared; the hardware class only when both files
// record it (files from before perfgate recorded it lack the key). The text is the same on
// every run.
func Diff(a, b *File, aName, bName string) string {
	pick := func(f *File) map[string]string {
		m := map[string]string{"(case)": f.Name}
		for _, kv := range f.Config {
			if !metric.IsNote(kv.Key) {
				m[kv.Key] = kv.Value
			}
		}
		return m
	}
	x, y := pick(a), pick(b)
	if !slices.ContainsFunc(a.Units, func(u string) bool { return slices.Contains(b.Units, u) }) {
		x["(units)"], y["(units)"] = strings.Join(a.Units, " "), strings.Join(b.Units, " ")
	}
	if _, ok := x[metric.KeyHardware]; !ok {
		delete(y, metric.KeyHardware)
	}
	if _, ok := y[metric.KeyHardware]; !ok {
		delete(x, metric.KeyHardware)
	}
	keys := slices.Sorted(maps.Keys(x))
	for k := range y {
		if _, ok := x[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	side := func(m map[string]string, k string) string {
		if v, ok := m[k]; ok {
			return fmt.Sprintf("%q", v)
		}
		return "absent"
	}
	var sb strings.Builder
	for _, k := range keys {
		xv, xok := x[k]
		yv, yok := y[k]
		if xok == yok && xv == yv {
			continue
		}
		fmt.Fprintf(&sb, "  %s: %s %s, %s %s\n", k, aName, side(x, k), bName, side(y, k))
	}
	return sb.String()
}
