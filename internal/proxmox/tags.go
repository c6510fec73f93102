package proxmox

import (
	"regexp"
	"slices"
	"strings"
)

var tagRE = regexp.MustCompile(`^[a-z0-9_][a-z0-9_\-+.]*$`)

// NormalizeTags returns tags as PVE stores them: split on ';', ',' and
// spaces, lower-cased, sorted and de-duplicated. It returns nil for no tags.
func NormalizeTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		for _, f := range strings.FieldsFunc(t, func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
			out = append(out, strings.ToLower(f))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ParseTags splits a PVE tags value ("golden;ubuntu") into normalised tags.
func ParseTags(s string) []string { return NormalizeTags([]string{s}) }

// ValidateTags checks tags against PVE's tag syntax (after normalising).
func ValidateTags(tags []string) error {
	for _, t := range NormalizeTags(tags) {
		if len(t) > 124 || !tagRE.MatchString(t) {
			return NewError(ErrInvalid, 0, "invalid tag %q: tags are letters, digits and _-+. and start with a letter, digit or _", t)
		}
	}
	return nil
}
