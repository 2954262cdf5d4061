package perftest

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/perfgate/perfgate/internal/termtext"
)

// Settings name, in messages, where the user sets each Case field: in a go test the field
// itself ("set Case.Model"), in a command its flag ("set --model"). Keys are Case field
// names ("Model", "Name", "Timeout", ...); a field without a key is named "Case.<field>".
// A command passes the flags it has in ExecOptions.Settings; messages name fields through
// Name, never by a literal "Case.".
type Settings map[string]string

// Name is where field is set: s[field], else "Case." + field.
func (s Settings) Name(field string) string {
	if n, ok := s[field]; ok && n != "" {
		return n
	}
	return "Case." + field
}

// nameRunes are the characters a case name may not hold besides white space, control and
// formatting characters: those file systems give a meaning ('/' separates sub-benchmarks,
// as in Sweep's CASE/LOAD, and ':' a sweep stage: both become '_' in file names).
const nameRunes = `\*?"<>|%`

// checkName refuses a case name that would not name its result files and benchmark lines
// as it is: white space (which a benchmark name cannot hold), control or formatting
// characters (an ESC, a newline, a bidi override), or one of \ * ? " < > | %. Before, a
// name was silently rewritten, so that distinct names shared a file ("a b" and "a\nb"
// both became a_b.txt).
func checkName(name string, set Settings) error {
	for _, r := range name {
		switch {
		case unicode.IsSpace(r), unicode.IsControl(r), unicode.Is(unicode.Cf, r), r == unicode.ReplacementChar:
			return fmt.Errorf("%s %q: a case name names files and benchmark lines: no white space, control or formatting characters", set.Name("Name"), name)
		case strings.ContainsRune(nameRunes, r):
			return fmt.Errorf("%s %q: a case name names files and benchmark lines: none of %s", set.Name("Name"), name, nameRunes)
		}
	}
	return nil
}

// escapedLogf is logf (nil: none) with each message escaped for a terminal and a CI log
// (internal/termtext): the runner's notes carry a server's words (its errors, its metric
// names), which must not move the cursor or open a workflow command.
func escapedLogf(logf func(string, ...any)) func(string, ...any) {
	if logf == nil {
		return func(string, ...any) {}
	}
	return func(format string, args ...any) { logf("%s", termtext.Line(fmt.Sprintf(format, args...))) }
}
