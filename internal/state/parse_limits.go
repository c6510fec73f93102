package state

import (
	"fmt"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// What one desired file can make the parser do and say. A file is a few
// kilobytes; these bounds keep a hostile or broken one (aliases repeated
// thousands of times, megabyte scalars) from costing more than a valid one
// of the same size, in time, memory or lines of output.
const (
	// MaxProblems is how many problems a ValidationError lists; the rest
	// are counted in one closing line.
	MaxProblems = 50
	// maxMsgLen bounds one problem's message, in characters.
	maxMsgLen = 240
	// maxQuoted is how much of a scalar a message quotes.
	maxQuoted = 60
	// aliasFactor and aliasSlack bound alias expansion: the document the
	// aliases expand to may hold at most aliasFactor times the nodes the
	// file writes, plus aliasSlack.
	aliasFactor = 2
	aliasSlack  = 1000
)

// add records a problem, with its message shortened to maxMsgLen. It keeps
// the parser's memory bounded however many problems a file has: past
// 4·MaxProblems it keeps the first MaxProblems by position and counts the
// rest.
func (p *parser) add(pr Problem) {
	pr.Msg = clipLen(pr.Msg, maxMsgLen)
	p.problems = append(p.problems, pr)
	if len(p.problems) >= 4*MaxProblems {
		p.trimProblems()
	}
}

// trimProblems sorts the problems and keeps the first MaxProblems.
func (p *parser) trimProblems() {
	sortProblems(p.problems)
	if extra := len(p.problems) - MaxProblems; extra > 0 {
		p.omitted += extra
		clear(p.problems[MaxProblems:])
		p.problems = p.problems[:MaxProblems]
	}
}

// checkExpansion refuses a document whose aliases expand it beyond
// aliasFactor times what the file writes (plus aliasSlack), and aliases
// that refer to the value containing them. It reports whether the document
// may be walked.
func (p *parser) checkExpansion(doc *yaml.Node) bool {
	literal := countNodes(doc)
	e := &expander{limit: aliasFactor*literal + aliasSlack, memo: map[*yaml.Node]int{}, busy: map[*yaml.Node]bool{}}
	e.walk(doc, nil)
	switch {
	case e.cycle != nil:
		p.addf(e.cycle, "", "alias *%s refers to the value that contains it", clip(e.cycle.Value))
	case e.over:
		at := e.at
		if at == nil {
			at = e.biggest
		}
		p.addf(at, "", "aliases expand the file beyond %d YAML nodes (%d times the %d it writes, plus %d): refusing it; write the values out instead of repeating large aliases",
			e.limit, aliasFactor, literal, aliasSlack)
	default:
		return true
	}
	return false
}

// countNodes counts the nodes under n as written, an alias counting one.
func countNodes(n *yaml.Node) int {
	c := 1
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

// expander walks a document in order, following aliases, and stops once
// it has visited more than limit nodes. Anchored values are sized once
// (memo), so a chain of aliases that doubles at each step costs no more
// than writing the chain.
type expander struct {
	limit, total int
	memo         map[*yaml.Node]int  // expanded size of anchored nodes walked
	busy         map[*yaml.Node]bool // anchored nodes being walked
	over         bool
	at           *yaml.Node // the outermost alias being expanded when over
	biggest      *yaml.Node // the alias with the largest expansion so far
	biggestSize  int
	cycle        *yaml.Node // an alias inside the value it names
}

// walk returns n's expanded size (partial once over or in a cycle). outer
// is the outermost alias n is reached through (nil outside aliases).
func (e *expander) walk(n, outer *yaml.Node) int {
	if e.over || e.cycle != nil {
		return 0
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		inner := outer
		if inner == nil {
			inner = n
		}
		t := n.Alias
		if e.busy[t] {
			e.cycle = n
			return 0
		}
		s, ok := e.memo[t]
		if ok {
			e.count(s, inner)
		} else {
			s = e.walk(t, inner)
		}
		if outer == nil && s > e.biggestSize {
			e.biggest, e.biggestSize = n, s
		}
		return s
	}
	if n.Anchor != "" {
		e.busy[n] = true
		defer delete(e.busy, n)
	}
	s := 1
	e.count(1, outer)
	for _, c := range n.Content {
		s += e.walk(c, outer)
	}
	if n.Anchor != "" && !e.over && e.cycle == nil {
		e.memo[n] = s
	}
	return s
}

// count adds s visited nodes, noting where the limit was passed.
func (e *expander) count(s int, outer *yaml.Node) {
	e.total += s
	if e.total > e.limit && !e.over {
		e.over, e.at = true, outer
	}
}

// clip shortens s for a message to maxQuoted characters.
func clip(s string) string { return clipLen(s, maxQuoted) }

// clipLen shortens s to max characters, marking the cut with "…".
func clipLen(s string, max int) string {
	if len(s) <= max || utf8.RuneCountInString(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// omittedLine is the line that ends a capped problem list.
func omittedLine(n int) string {
	if n == 1 {
		return "and 1 more problem"
	}
	return fmt.Sprintf("and %d more problems", n)
}
