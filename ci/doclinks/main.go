// Command doclinks checks the repository's documentation: every relative link in README.md
// and the pages under docs/ must name a file that exists and, for a link to a Markdown
// file, a heading anchor that exists in it; and every page in docs/ must be reachable from
// README.md. It prints one line per problem and exits 1 when there is any.
//
//	go run ./ci/doclinks [ROOT]
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	n, err := check(os.Stdout, root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "doclinks:", err)
		os.Exit(2)
	}
	if n > 0 {
		os.Exit(1)
	}
}

// page is what check knows of one Markdown file: its heading anchors and its links, each
// with the line it is on.
type page struct {
	anchors map[string]bool
	links   []link
}

type link struct {
	line   int
	target string
}

// check reads README.md under root and every Markdown page it links to, transitively,
// and the pages in root/docs; it writes one line per problem to w and returns how many.
func check(w io.Writer, root string) (int, error) {
	pages := map[string]*page{}
	load := func(rel string) (*page, error) {
		if p, ok := pages[rel]; ok {
			return p, nil
		}
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return nil, err
		}
		p := parse(b)
		pages[rel] = p
		return p, nil
	}
	problems := 0
	report := func(format string, args ...any) {
		fmt.Fprintf(w, format+"\n", args...)
		problems++
	}
	queue := []string{"README.md"}
	reached := map[string]bool{"README.md": true}
	for len(queue) > 0 {
		rel := queue[0]
		queue = queue[1:]
		p, err := load(rel)
		if err != nil {
			return problems, fmt.Errorf("read %s: %w", rel, err)
		}
		for _, l := range p.links {
			dest, anchor, ok := resolve(rel, l.target)
			if !ok {
				continue
			}
			if dest == "" {
				dest = rel
			}
			info, err := os.Stat(filepath.Join(root, dest))
			if err != nil {
				report("%s:%d: dead link %s: %s does not exist", rel, l.line, l.target, dest)
				continue
			}
			if !strings.HasSuffix(dest, ".md") || info.IsDir() {
				continue
			}
			target, err := load(dest)
			if err != nil {
				return problems, fmt.Errorf("read %s: %w", dest, err)
			}
			if anchor != "" && !target.anchors[anchor] {
				report("%s:%d: dead link %s: %s has no heading with anchor #%s", rel, l.line, l.target, dest, anchor)
			}
			if !reached[dest] {
				reached[dest] = true
				queue = append(queue, dest)
			}
		}
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return problems, err
	}
	for _, d := range docs {
		rel := filepath.ToSlash(filepath.Join("docs", filepath.Base(d)))
		if !reached[rel] {
			report("%s: not reachable from README.md", rel)
		}
	}
	return problems, nil
}

// resolve turns a link target written in the page at rel into a path relative to the root
// and an anchor; ok is false for links outside the repository (a scheme, an absolute path).
func resolve(rel, target string) (dest, anchor string, ok bool) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "" || u.Host != "" || strings.HasPrefix(u.Path, "/") {
		return "", "", false
	}
	if u.Path != "" {
		dest = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(rel), u.Path)))
	}
	return dest, u.Fragment, true
}

var (
	linkRE   = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	codeRE   = regexp.MustCompile("`+[^`]*`+")
	idAttrRE = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
)

// parse finds a Markdown page's heading anchors (as GitHub makes them, numbered when a
// heading repeats) and its links, leaving out fenced code blocks and inline code.
func parse(b []byte) *page {
	p := &page{anchors: map[string]bool{}}
	seen := map[string]int{}
	fence := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		if f := fenceOf(trimmed); f != "" && (fence == "" || strings.HasPrefix(f, fence)) {
			if fence == "" {
				fence = f
			} else {
				fence = ""
			}
			continue
		}
		if fence != "" {
			continue
		}
		if h, ok := strings.CutPrefix(trimmed, "#"); ok {
			h = strings.TrimLeft(h, "#")
			if strings.HasPrefix(h, " ") {
				s := slug(h)
				if k := seen[s]; k > 0 {
					p.anchors[fmt.Sprintf("%s-%d", s, k)] = true
				} else {
					p.anchors[s] = true
				}
				seen[s]++
			}
		}
		for _, m := range idAttrRE.FindAllStringSubmatch(line, -1) {
			p.anchors[m[1]] = true
		}
		for _, m := range linkRE.FindAllStringSubmatch(codeRE.ReplaceAllString(line, ""), -1) {
			p.links = append(p.links, link{line: n, target: m[1]})
		}
	}
	return p
}

// fenceOf is the fence a line opens or closes (``` or ~~~, as long as written), or "".
func fenceOf(line string) string {
	for _, c := range []string{"`", "~"} {
		if strings.HasPrefix(line, c+c+c) {
			return line[:len(line)-len(strings.TrimLeft(line, c))]
		}
	}
	return ""
}

// slug is GitHub's anchor for a heading's text: lower case, every character that is not a
// letter, digit, space, hyphen or underscore dropped, spaces made hyphens. Link syntax in
// the heading counts by its text.
func slug(h string) string {
	h = linkRE.ReplaceAllStringFunc(strings.TrimSpace(h), func(m string) string {
		return m[strings.Index(m, "[")+1 : strings.Index(m, "]")]
	})
	var sb strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			sb.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			sb.WriteRune(r)
		}
	}
	return sb.String()
}
