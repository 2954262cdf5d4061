package gate

import (
	"fmt"
	"io"
	"strings"

	"github.com/perfgate/perfgate/perftest/attrib"
)

// attribute splits the change of each latency the gate flagged (a regression, or one a busier
// machine may explain), or of every latency with all, into its causes (perftest/attrib),
// from the part-* figures of the two files; where anything was flagged it names the
// server figures that moved, which a latency without parts (ITL, TPOT) is read with too.
func (r *Report) attribute(all bool) {
	r.Cache = attrib.CacheStates(r.Base, r.Cur)
	flagged := all
	for _, d := range r.Deltas {
		if d.Figure || !all && d.Verdict != Regression && d.Verdict != Inconclusive {
			continue
		}
		flagged = true
		if a, ok := attrib.Attribute(r.Base, r.Cur, d.Unit); ok {
			r.Attributions = append(r.Attributions, a)
		}
	}
	if flagged {
		r.Figures = attrib.MovedFigures(r.Base, r.Cur)
	}
}

// AttributionText says why the flagged latencies changed, "" when there is nothing to say:
// how the runs' cache states differ (Cache), a line per latency with its causes, then a
// line with the server figures that moved (the same for every latency: they are the
// runs').
func (r *Report) AttributionText() string {
	lines := r.attributionLines()
	if r.Cache != "" {
		lines = append([]string{"cache: " + r.Cache}, lines...)
	}
	return strings.Join(lines, "\n")
}

// writeCache writes the cache line that goes before the table, where the cache states
// differ.
func (r *Report) writeCache(w io.Writer, markdown bool) error {
	if r.Cache == "" {
		return nil
	}
	format := "cache: %s\n\n"
	if markdown {
		format = "**Cache**: %s.\n\n"
	}
	_, err := fmt.Fprintf(w, format, r.Cache)
	return err
}

func (r *Report) attributionLines() []string {
	var lines []string
	for i := range r.Attributions {
		lines = append(lines, r.Attributions[i].CauseText())
	}
	if len(r.Figures) > 0 {
		lines = append(lines, "server: "+attrib.FigureList(r.Figures))
	}
	return lines
}

// writeAttributionText writes the "why:" block of the text report.
func (r *Report) writeAttributionText(b *strings.Builder) {
	if len(r.Attributions)+len(r.Figures) == 0 {
		return
	}
	b.WriteString("why:\n")
	for _, l := range r.attributionLines() {
		fmt.Fprintf(b, "  %s\n", l)
	}
}

// writeAttributionMarkdown writes the "Why" list of the markdown report.
func (r *Report) writeAttributionMarkdown(b *strings.Builder) {
	if len(r.Attributions)+len(r.Figures) == 0 {
		return
	}
	b.WriteString("\n**Why**\n\n")
	for i, l := range r.attributionLines() {
		if i < len(r.Attributions) {
			name, rest, _ := strings.Cut(l, " ")
			l = "`" + name + "` " + rest
		}
		fmt.Fprintf(b, "- %s\n", l)
	}
}

// attributionJSON is an attribution as the JSON report writes it.
type attributionJSON struct {
	Latency    string      `json:"latency"`
	Base       float64     `json:"base"`
	Current    float64     `json:"current"`
	Change     float64     `json:"change"`
	Histograms bool        `json:"histograms,omitempty"`
	Causes     []causeJSON `json:"causes"`
	Server     []figJSON   `json:"server,omitempty"`
	Text       string      `json:"text"`
}

type causeJSON struct {
	Cause string  `json:"cause"`
	Shift float64 `json:"shift"`
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
	Moved bool    `json:"moved"`
}

type figJSON struct {
	Unit    string  `json:"unit"`
	Base    float64 `json:"base"`
	Current float64 `json:"current"`
}

func (r *Report) attributionJSON() []attributionJSON {
	var out []attributionJSON
	for i := range r.Attributions {
		a := &r.Attributions[i]
		j := attributionJSON{Latency: a.Latency, Base: a.Base, Current: a.Cur, Change: a.Change, Histograms: a.Histograms,
			Causes: []causeJSON{}, Text: a.String()}
		for _, c := range a.Causes {
			j.Causes = append(j.Causes, causeJSON{c.Name, c.Shift, c.Lo, c.Hi, c.Moved})
		}
		for _, f := range a.Figures {
			j.Server = append(j.Server, figJSON{f.Unit, f.Base, f.Cur})
		}
		out = append(out, j)
	}
	return out
}
