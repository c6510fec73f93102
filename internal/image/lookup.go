package image

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/agext/levenshtein"
)

// ErrNotFound says no entry has the name or matches the pattern.
var ErrNotFound = errors.New("not in the checksum file")

// ErrAmbiguous says a pattern matched several entries and no single one
// has the highest version.
var ErrAmbiguous = errors.New("ambiguous")

// IsPattern reports whether name is a path.Match pattern rather than a
// plain file name.
func IsPattern(name string) bool { return strings.ContainsAny(name, `*?[\`) }

// Lookup finds name among entries. A plain name must equal an entry's Name
// exactly. A pattern (path.Match syntax: *, ?, [...], \ escapes; * does not
// cross "/") that matches several entries picks the one with the highest
// version: the matches must read alike apart from their dotted numeric
// runs ("Rocky-9.4-x86_64-minimal.iso", "Rocky-9.10-x86_64-minimal.iso"),
// which are compared left to right as versions (9.10 is above 9.4; 24.04.1
// above 24.04). Matches that differ in anything but numbers, or whose
// highest version is shared, are refused as ambiguous with the candidates
// named. A name listed twice with two digests of one algorithm is refused
// too; listed with sha256 and sha512, the sha512 entry is returned. No
// match is an ErrNotFound that names up to 5 nearby names.
func Lookup(entries []Entry, name string) (Entry, error) {
	if name == "" {
		return Entry{}, errors.New("lookup: empty file name")
	}
	var matches []Entry
	if IsPattern(name) {
		if _, err := path.Match(name, ""); err != nil {
			return Entry{}, fmt.Errorf("pattern %q: %w", name, err)
		}
		for _, e := range entries {
			if ok, _ := path.Match(name, e.Name); ok {
				matches = append(matches, e)
			}
		}
	} else {
		for _, e := range entries {
			if e.Name == name {
				matches = append(matches, e)
			}
		}
	}
	if len(matches) == 0 {
		near := nearby(entries, name, 5)
		if len(near) == 0 {
			return Entry{}, fmt.Errorf("%q: %w", name, ErrNotFound)
		}
		return Entry{}, fmt.Errorf("%q: %w (nearby: %s)", name, ErrNotFound, strings.Join(near, ", "))
	}
	byName, err := strongest(matches)
	if err != nil {
		return Entry{}, err
	}
	if len(byName) == 1 {
		return byName[0], nil
	}
	return newest(name, byName)
}

// strongest keeps one entry per name: the sha512 one if there is one. Two
// different digests of one algorithm for one name are an error.
func strongest(matches []Entry) ([]Entry, error) {
	type key struct {
		name string
		alg  Algorithm
	}
	first := make(map[key]Entry, len(matches))
	at := make(map[string]int, len(matches)) // name → index in out
	var out []Entry
	for _, e := range matches {
		k := key{e.Name, e.Checksum.Algorithm}
		if f, ok := first[k]; ok {
			if f.Checksum.Hex != e.Checksum.Hex {
				return nil, fmt.Errorf("%q is listed twice with different %s digests (lines %d and %d)",
					e.Name, e.Checksum.Algorithm, f.Line, e.Line)
			}
			continue
		}
		first[k] = e
		i, seen := at[e.Name]
		switch {
		case !seen:
			at[e.Name] = len(out)
			out = append(out, e)
		case e.Checksum.Algorithm == SHA512:
			out[i] = e
		}
	}
	return out, nil
}

// newest picks the single candidate with the highest version.
func newest(pattern string, cands []Entry) (Entry, error) {
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = c.Name
	}
	slices.Sort(names)
	ambiguous := func(why string) error {
		return fmt.Errorf("pattern %q matches %s: %w (%s); pin one file name", pattern,
			strings.Join(names, ", "), ErrAmbiguous, why)
	}
	keys := make([]versionKey, len(cands))
	for i, c := range cands {
		k, err := parseVersionKey(c.Name)
		if err != nil {
			return Entry{}, ambiguous(err.Error())
		}
		if i > 0 && k.skeleton != keys[0].skeleton {
			return Entry{}, ambiguous("they differ in more than their version")
		}
		keys[i] = k
	}
	best, tied := 0, false
	for i := 1; i < len(cands); i++ {
		switch c := keys[i].compare(keys[best]); {
		case c > 0:
			best, tied = i, false
		case c == 0:
			tied = true
		}
	}
	if tied {
		return Entry{}, ambiguous("no single highest version")
	}
	return cands[best], nil
}

// nearby returns up to max entry names closest to name by edit distance,
// closest first.
func nearby(entries []Entry, name string, max int) []string {
	type scored struct {
		name string
		d    int
	}
	seen := make(map[string]bool, len(entries))
	all := make([]scored, 0, len(entries))
	for _, e := range entries {
		if !seen[e.Name] {
			seen[e.Name] = true
			all = append(all, scored{e.Name, distance(name, e.Name)})
		}
	}
	slices.SortFunc(all, func(a, b scored) int {
		if a.d != b.d {
			return a.d - b.d
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]string, 0, max)
	for i := 0; i < len(all) && i < max; i++ {
		out = append(out, all[i].name)
	}
	return out
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int { return levenshtein.Distance(a, b, nil) }
