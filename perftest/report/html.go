package report

import (
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"strings"

	"github.com/perfgate/perfgate/perftest/plot"
)

//go:embed report.html.tmpl
var pageTemplate string

//go:embed report.css
var pageCSS string

// CSP is the page's Content-Security-Policy: nothing may be loaded, styles are inline,
// images only from data: URLs. The page has no script.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

var tmpl = template.Must(template.New("report").Parse(pageTemplate))

type page struct {
	Title, Headline, VerdictClass, Dir, CSP string
	CSS                                     template.CSS
	Summary                                 template.HTML
	Sections                                []section
	Notes                                   template.HTML
}

type section struct {
	ID, Kind, Name, Verdict, VerdictClass, Why string
	Text                                       template.HTML
	Groups                                     []htmlGroup
}

type htmlGroup struct {
	Title, Note string
	Legend      []legendItem
	Wide        bool
	Figures     []htmlFigure
}

type htmlFigure struct {
	SVG    template.HTML
	Points int
	Empty  string // why nothing is drawn
}

// WriteHTML writes report.html: one self-contained page (inline SVG and styles, no script,
// a Content-Security-Policy that forbids every request) with every run's comparison and
// plots (see the package doc).
func (r *Report) WriteHTML(w io.Writer) error {
	v := r.Verdict()
	p := page{Title: "perfgate: " + r.Headline(), Headline: r.Headline(), VerdictClass: verdictClass(v),
		Dir: filepath.ToSlash(r.Dir), CSP: CSP, CSS: template.CSS(pageCSS + paletteCSS())}
	var b strings.Builder
	r.summaryMarkdown(&b)
	p.Summary = template.HTML(markdownHTML(b.String()))
	for i, c := range r.Cases {
		s, err := r.caseSection(fmt.Sprintf("case-%d", i+1), "case", c)
		if err != nil {
			return err
		}
		p.Sections = append(p.Sections, s)
	}
	for i, ab := range r.ABs {
		s, err := abSection(fmt.Sprintf("ab-%d", i+1), ab)
		if err != nil {
			return err
		}
		p.Sections = append(p.Sections, s)
	}
	for i, sw := range r.Sweeps {
		s, err := r.sweepSection(fmt.Sprintf("sweep-%d", i+1), sw)
		if err != nil {
			return err
		}
		p.Sections = append(p.Sections, s)
	}
	for i, h := range r.Histories {
		var b strings.Builder
		r.historyMarkdown(&b, h)
		s := section{ID: fmt.Sprintf("history-%d", i+1), Kind: "history", Name: h.Case, Verdict: historyVerdict(h), VerdictClass: "v-none",
			Text: template.HTML(markdownHTML(b.String()))}
		g, err := render(historyFigures(h))
		if err != nil {
			return err
		}
		s.Groups = append(s.Groups, g)
		p.Sections = append(p.Sections, s)
	}
	b.Reset()
	notesMarkdown(&b, r.Notes)
	p.Notes = template.HTML(markdownHTML(b.String()))
	return tmpl.Execute(w, p)
}

func verdictClass(v Verdict) string {
	switch v {
	case Regression, Refused, Unhealthy:
		return "v-regression"
	case Inconclusive, Undecided:
		return "v-inconclusive"
	case Pass, Improved:
		return "v-pass"
	}
	return "v-none"
}

func (r *Report) caseSection(id, kind string, c *Case) (section, error) {
	v, why := c.Verdict()
	var b strings.Builder
	if err := r.caseMarkdown(&b, c); err != nil {
		return section{}, err
	}
	s := section{ID: id, Kind: kind, Name: c.Name, Verdict: v.String(), VerdictClass: verdictClass(v),
		Text: template.HTML(markdownHTML(b.String()))}
	if c.Compare == nil { // a comparison explains itself; say why there is none
		s.Why = why
	}
	return withGroups(s, c.groups())
}

func abSection(id string, ab *AB) (section, error) {
	v, _ := ab.Verdict()
	var b strings.Builder
	if err := abMarkdown(&b, ab); err != nil {
		return section{}, err
	}
	s := section{ID: id, Kind: "A/B", Name: ab.Name, Verdict: v.String(), VerdictClass: verdictClass(v),
		Text: template.HTML(markdownHTML(b.String()))}
	return withGroups(s, ab.groups())
}

func (r *Report) sweepSection(id string, sw *Sweep) (section, error) {
	var b strings.Builder
	sweepMarkdown(&b, sw)
	for _, p := range sw.Points {
		if err := r.caseMarkdown(&b, p); err != nil {
			return section{}, err
		}
	}
	s := section{ID: id, Kind: "sweep", Name: sw.Name, Verdict: fmt.Sprintf("%d loads", len(sw.Points)), VerdictClass: "v-none",
		Text: template.HTML(markdownHTML(b.String()))}
	return withGroups(s, []*figGroup{sweepFigures(sw)})
}

func withGroups(s section, groups []*figGroup) (section, error) {
	for _, g := range groups {
		if g == nil || len(g.Charts) == 0 {
			continue
		}
		hg, err := render(g)
		if err != nil {
			return section{}, fmt.Errorf("%s %s: %w", s.Kind, s.Name, err)
		}
		s.Groups = append(s.Groups, hg)
	}
	return s, nil
}

// render draws a group's charts as inline SVG; a chart without data says so instead.
func render(g *figGroup) (htmlGroup, error) {
	hg := htmlGroup{Title: g.Title, Note: g.Note, Legend: g.Legend, Wide: g.Wide}
	for _, c := range g.Charts {
		svg, err := c.InlineSVG()
		switch {
		case errors.Is(err, plot.ErrNoData):
			hg.Figures = append(hg.Figures, htmlFigure{Empty: c.Title + ": no data"})
		case err != nil:
			return htmlGroup{}, err
		default:
			hg.Figures = append(hg.Figures, htmlFigure{SVG: template.HTML(svg), Points: c.Points()})
		}
	}
	return hg, nil
}

// paletteCSS gives each palette colour a class, c0 to c7, for the legends.
func paletteCSS() string {
	var b strings.Builder
	for i := range plot.Black + 1 {
		fmt.Fprintf(&b, ".c%d{color:%s}", i, plot.Color(i))
	}
	return b.String() + "\n"
}
