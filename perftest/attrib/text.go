package attrib

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// String is the attribution on one line: CauseText, then the server figures that moved
// (FigureText):
//
//	ttft-p90-sec +21.0ms (+22%): queue +19.0ms ±1.9ms, prefill +1.0ms ±0.4ms; within noise: client +0.1ms, network +0.3ms, unexplained +0.6ms; server: preemptions 0 → 31
func (a *Attribution) String() string {
	s := a.CauseText()
	if fs := a.FigureText(); fs != "" {
		s += "; server: " + fs
	}
	return s
}

// CauseText is the change of the latency's mean, the causes that moved (largest first,
// each with its shift and the half-width of its interval) and those within noise.
func (a *Attribution) CauseText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", a.Latency, fmtSec(a.Change))
	if a.Base != 0 {
		fmt.Fprintf(&b, " (%+.0f%%)", 100*(a.Cur/a.Base-1))
	}
	b.WriteString(": ")
	moved, still := a.split()
	if len(moved) == 0 {
		b.WriteString("no cause moved beyond its noise")
	} else {
		b.WriteString(strings.Join(moved, ", "))
	}
	if len(still) > 0 {
		b.WriteString("; within noise: " + strings.Join(still, ", "))
	}
	if a.Histograms {
		b.WriteString(" (the server's part split by its histograms, means of every request: it sent no per-request timing)")
	}
	return b.String()
}

// split formats the causes that moved, largest shift first, and those that did not, in
// their order.
func (a *Attribution) split() (moved, still []string) {
	cs := slices.Clone(a.Causes)
	slices.SortStableFunc(cs, func(x, y Cause) int {
		switch {
		case math.Abs(x.Shift) > math.Abs(y.Shift):
			return -1
		case math.Abs(x.Shift) < math.Abs(y.Shift):
			return 1
		}
		return 0
	})
	for _, c := range cs {
		if c.Moved {
			moved = append(moved, fmt.Sprintf("%s %s ±%s", c.Name, fmtSec(c.Shift), fmtAbs(max(c.Hi-c.Shift, c.Shift-c.Lo))))
		}
	}
	for _, c := range a.Causes {
		if !c.Moved {
			still = append(still, c.Name+" "+fmtSec(c.Shift))
		}
	}
	return moved, still
}

// FigureText lists the server figures that moved, "name base → cur", the prefix hit ratio
// marked as the first suspect ("" when none moved).
func (a *Attribution) FigureText() string { return FigureList(a.Figures) }

// FigureList writes figures as FigureText does.
func FigureList(figures []Figure) string {
	var out []string
	for _, f := range figures {
		s := fmt.Sprintf("%s %s → %s", figureNames[f.Unit], fmtNum(f.Base), fmtNum(f.Cur))
		if f.Unit == Suspects[0] {
			s += " (first suspect: the runs' cache states differ)"
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

// fmtSec writes a signed duration in seconds: "+19.0ms", "-1.25s", "+820µs".
func fmtSec(v float64) string {
	sign := "+"
	if v < 0 {
		sign = "-"
	}
	return sign + fmtAbs(math.Abs(v))
}

func fmtAbs(v float64) string {
	switch {
	case v >= 1:
		return fmt.Sprintf("%.2fs", v)
	case v >= 0.01:
		return fmt.Sprintf("%.1fms", v*1e3)
	case v >= 0.001:
		return fmt.Sprintf("%.2fms", v*1e3)
	}
	return fmt.Sprintf("%.0fµs", v*1e6)
}

// fmtNum writes a figure's median: a whole number as one, else three significant digits.
func fmtNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e9 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}
