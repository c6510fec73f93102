package proxmox

import (
	"regexp"

	"templated/internal/state"
)

var tagRE = regexp.MustCompile(`^[a-z0-9_][a-z0-9_\-+.]*$`)

// ParseTags splits a PVE tags value ("golden;ubuntu") into normalised tags.
func ParseTags(s string) []string { return state.NormalizeTags([]string{s}) }

// ValidateTags checks tags against PVE's tag syntax (after normalising).
func ValidateTags(tags []string) error {
	for _, t := range state.NormalizeTags(tags) {
		if len(t) > 124 || !tagRE.MatchString(t) {
			return NewError(ErrInvalid, 0, "invalid tag %q: tags are letters, digits and _-+. and start with a letter, digit or _", t)
		}
	}
	return nil
}
