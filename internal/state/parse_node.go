package state

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/agext/levenshtein"
	"go.yaml.in/yaml/v3"
)

// parser collects problems while it walks a desired file's YAML nodes.
type parser struct {
	file       string
	packerRoot string
	workspace  Workspace
	problems   []Problem
	omitted    int // problems dropped beyond MaxProblems
	// defaultNode is set when defaults wrote node (valid or not), so
	// templates without one do not repeat the problem.
	defaultNode bool
	// defaultBuildBad is set when defaults wrote an invalid build, so
	// templates that do not set their own have no known build.
	defaultBuildBad bool
	// defaultNodeValid is set when defaults wrote a valid node, and
	// defaultNodeBad when they wrote an invalid one, so templates that do
	// not set their own have no known node.
	defaultNodeValid, defaultNodeBad bool
	// defaultReplicaAt is where each node of defaults.replicas was
	// written; they are checked there, once.
	defaultReplicaAt []listItem
	// zones caches loaded time zones: loading one reads a file.
	zones map[string]zone
}

type zone struct {
	loc *time.Location
	err error
}

// location loads a time zone once per parse.
func (p *parser) location(name string) (*time.Location, error) {
	z, ok := p.zones[name]
	if !ok {
		z.loc, z.err = loadLocation(name)
		if p.zones == nil {
			p.zones = map[string]zone{}
		}
		p.zones[name] = z
	}
	return z.loc, z.err
}

// addf records a problem at n (or at 1:1 when n has no position).
func (p *parser) addf(n *yaml.Node, field, format string, args ...any) {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, max(n.Column, 1)
	}
	p.add(Problem{File: p.file, Line: line, Col: col, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// value is a YAML value where it appears (at, possibly an alias) and what it
// resolves to (n).
type value struct{ at, n *yaml.Node }

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; i < 8 && n != nil && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

// mapping is a YAML mapping whose keys have been checked against a spec.
type mapping struct {
	at      *yaml.Node
	vals    map[string]value // known keys whose value has the right type
	written map[string]bool  // known keys written, whatever their value
}

// readMapping checks n's keys against specs: unknown, duplicate and missing
// keys, and value types. n must be a mapping node.
func (p *parser) readMapping(at, n *yaml.Node, path string, specs []fieldSpec) *mapping {
	m := &mapping{at: at, vals: map[string]value{}, written: map[string]bool{}}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kr, field, ok := p.mappingKey(k, path, seen, "use defaults for shared settings")
		if !ok {
			continue
		}
		si := slices.IndexFunc(specs, func(s fieldSpec) bool { return s.Key == kr.Value })
		if si < 0 {
			p.addf(k, field, "unknown key%s", suggest(kr.Value, specs))
			continue
		}
		m.written[kr.Value] = true
		val := value{at: v, n: resolve(v)}
		if p.checkType(val, field, specs[si].Type) {
			m.vals[kr.Value] = val
		}
	}
	for _, s := range specs {
		if s.Required && seen[s.Key] == nil {
			p.addf(at, joinField(path, s.Key), "required key is missing")
		}
	}
	return m
}

// mappingKey checks the key k of a mapping at path: a plain scalar, not a
// merge key (mergeHint says what to write instead), not written before
// (seen, which it updates). It returns the key's resolved node and field.
func (p *parser) mappingKey(k *yaml.Node, path string, seen map[string]*yaml.Node, mergeHint string) (*yaml.Node, string, bool) {
	kr := resolve(k)
	if kr.Kind != yaml.ScalarNode {
		p.addf(k, path, "keys must be plain names, got %s", describe(kr))
		return nil, "", false
	}
	field := joinField(path, kr.Value)
	if kr.ShortTag() == "!!merge" {
		p.addf(k, field, "merge keys are not supported; %s", mergeHint)
		return nil, "", false
	}
	if first, dup := seen[kr.Value]; dup {
		p.addf(k, field, "duplicate key (first at line %d)", first.Line)
		return nil, "", false
	}
	seen[kr.Value] = k
	return kr, field, true
}

// checkType reports whether v has type typ, recording a problem if not.
func (p *parser) checkType(v value, field, typ string) bool {
	n := v.n
	tag := ""
	if n.Kind == yaml.ScalarNode {
		tag = n.ShortTag()
	}
	var ok bool
	switch typ {
	case typeString:
		ok = tag == "!!str"
	case typeInteger:
		ok = tag == "!!int"
	case typeBoolOrText:
		ok = tag == "!!str" || tag == "!!bool"
	case typeObject:
		ok = n.Kind == yaml.MappingNode
	case typeArray:
		ok = n.Kind == yaml.SequenceNode
	}
	if ok {
		return true
	}
	hint := ""
	switch {
	case typ == typeString && (tag == "!!int" || tag == "!!float" || tag == "!!bool" || tag == "!!timestamp"):
		hint = "; quote it: " + quote(n.Value)
	case typ == typeInteger && tag == "!!str" && quotedInteger.MatchString(n.Value):
		hint = "; write it without quotes: " + n.Value
	}
	p.addf(v.at, field, "must be %s, got %s%s", typeNames[typ], describe(n), hint)
	return false
}

var typeNames = map[string]string{
	typeString:     "a string",
	typeInteger:    "an integer",
	typeBoolOrText: "true, false or a reason (a string)",
	typeObject:     "a mapping",
	typeArray:      "a list",
}

// describe names what n is, for messages about a value of the wrong type.
// It quotes numbers, booleans and timestamps (shortened), but never the
// content of a string or of a value with another tag: a string where a
// mapping, a list or a number belongs is not plausibly a value of the
// field, and is how a file that is not a desired file at all (an env file,
// a key, reached through a symlink) shows up; its text may be a secret.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
	default:
		return "an alias"
	}
	switch tag := n.ShortTag(); tag {
	case "!!null":
		return "null"
	case "!!str":
		return "a string"
	case "!!int":
		return "integer " + clip(n.Value)
	case "!!float":
		return "number " + clip(n.Value)
	case "!!bool":
		return "boolean " + clip(n.Value)
	case "!!timestamp":
		return "timestamp " + clip(n.Value)
	default:
		return "a value tagged " + clip(tag)
	}
}

func quote(s string) string { return strconv.Quote(clip(s)) }

var (
	plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// quotedInteger is a string that would be an integer unquoted; it is
	// short and can be shown.
	quotedInteger = regexp.MustCompile(`^-?[0-9]{1,12}$`)
)

// joinField appends key to a field path.
func joinField(path, key string) string {
	if !plainKey.MatchString(key) {
		key = quote(key)
	} else {
		key = clip(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// intValue decodes an integer value, recording a problem if it does not fit.
func (p *parser) intValue(v value, field string, lo, hi int) (int, bool) {
	var x int64
	if err := v.n.Decode(&x); err != nil || x < int64(lo) || x > int64(hi) {
		p.addf(v.at, field, "must be between %d and %d, got %s", lo, hi, clip(v.n.Value))
		return 0, false
	}
	return int(x), true
}

// suggest returns ` (did you mean "x"?)` for a near-miss of a known key.
func suggest(key string, specs []fieldSpec) string {
	best, bestDist := "", 3
	for _, s := range specs {
		if d := editDistance(key, s.Key); d < bestDist && 2*d < len(key) {
			best, bestDist = s.Key, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b (names longer
// than 64 bytes are simply far apart).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b))
	}
	return levenshtein.Distance(a, b, nil)
}
