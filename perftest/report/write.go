package report

import (
	"path/filepath"

	"github.com/perfgate/perfgate/internal/atomicfile"
)

// Write writes report.md and report.html into dir (the results folder, usually), each
// atomically, and returns their paths.
func (r *Report) Write(dir string) (md, html string, err error) {
	md, html = filepath.Join(dir, "report.md"), filepath.Join(dir, "report.html")
	if err := atomicfile.Write(md, r.WriteMarkdown); err != nil {
		return "", "", err
	}
	if err := atomicfile.Write(html, r.WriteHTML); err != nil {
		return "", "", err
	}
	return md, html, nil
}
