package state

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a desired file, located at the offending
// key or value.
type Problem struct {
	File  string // the path as given to Parse ("" when unknown)
	Line  int    // 1-based
	Col   int    // 1-based, in characters
	Field string // "templates[1].vmid"; "" for problems with the file itself
	Msg   string
}

// String formats p as "file:line:col: field: msg", with the field and
// message shortened to what a problem may say.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteByte(':')
	}
	fmt.Fprintf(&b, "%d:%d: ", p.Line, p.Col)
	if p.Field != "" {
		b.WriteString(clipLen(p.Field, maxMsgLen))
		b.WriteString(": ")
	}
	b.WriteString(clipLen(p.Msg, maxMsgLen))
	return b.String()
}

// ValidationError lists the problems found in a desired file: the first
// MaxProblems by position, and how many more there were.
type ValidationError struct {
	Problems []Problem
	Omitted  int // problems found beyond those listed
}

// Error returns one line per problem, sorted by position: at most
// MaxProblems lines of bounded length, then "and N more problems" when
// there were more.
func (e *ValidationError) Error() string {
	ps := slices.Clone(e.Problems)
	sortProblems(ps)
	omitted := e.Omitted
	if len(ps) > MaxProblems {
		omitted += len(ps) - MaxProblems
		ps = ps[:MaxProblems]
	}
	lines := make([]string, 0, len(ps)+1)
	for _, p := range ps {
		lines = append(lines, p.String())
	}
	if omitted > 0 {
		lines = append(lines, omittedLine(omitted))
	}
	return strings.Join(lines, "\n")
}

func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Col, b.Col),
			cmp.Compare(a.Field, b.Field),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
}
