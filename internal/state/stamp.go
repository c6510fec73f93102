package state

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The stamp is what templated writes on every template it builds, so that a
// plan over an unchanged cluster needs nothing but GET /cluster/resources:
// the tags carry everything the planner compares, the description carries
// the same and more for people reading the Proxmox UI.
//
// Tags (PVE lower-cases, sorts and de-duplicates them; all are valid PVE
// tag syntax):
//
//	templated                 owned by templated (the marker)
//	tpl-rel-<release>         the desired release, e.g. tpl-rel-1.0.0
//	tpl-in-<12 hex>           first 12 hex digits of the inputs hash
//	tpl-at-<yyyymmddThhmmssZ> build time, UTC, lower-case: tpl-at-20261126t120304z
//	tpl-by-<installation>     the templated installation that made it (its id, 12 hex)
//	tpl-plugin-<version>      the packer-plugin-proxmox version it was built with, e.g. tpl-plugin-1.2.4
//	tpl-img-<12 hex>          an image it was built from (one tag each): the digest's first 12 hex
//	tpl-of-<template>         the template it was built as, so that its clones (which inherit the tags) name it
//	templated-staging         a build not yet swapped in (crash recovery finds these)
//	templated-previous        an earlier version kept for rollback
//	templated-base            a base VM templated made from a cloud image
//
// The description holds "key: value" lines after a fixed first line:
//
//	Managed by templated; edits are detected as drift.
//	template: tpl-ubuntu-22.04
//	release: 1.0.0
//	inputs: sha256:<64 hex>
//	built: 2026-11-26T12:03:04Z
//	build-id: 20261126T120304Z-1a2b3c4d
//	installation: 0f1e2d3c4b5a
//	plugin: 1.2.4
//	images: sha256:<64 hex>, ...
//	commit: <git commit or "unknown">
//
// Nothing secret is ever stamped: the installation id is a random name for
// a state directory, not a credential.
const (
	TagOwner    = "templated"
	TagStaging  = "templated-staging"
	TagPrevious = "templated-previous"
	TagBase     = "templated-base"

	tagRelease = "tpl-rel-"
	tagInputs  = "tpl-in-"
	tagBuilt   = "tpl-at-"
	tagBy      = "tpl-by-"
	tagPlugin  = "tpl-plugin-"
	tagImage   = "tpl-img-"
	// tagTemplate names the template a guest was built as, so that a
	// clone (which inherits the tags) says which template it came from.
	tagTemplate = "tpl-of-"

	// InputsTagLen is how many hex digits of the inputs hash the tag keeps.
	InputsTagLen = 12

	stampHeader = "Managed by templated; edits are detected as drift."
	tagTime     = "20060102t150405z"
)

// Role says what a stamped guest is to templated.
type Role string

const (
	RoleTemplate Role = "template" // the template at its reserved VMID
	RoleStaging  Role = "staging"  // a build not yet swapped in
	RolePrevious Role = "previous" // an earlier version kept for rollback
	RoleBase     Role = "base"     // a base VM made from a cloud image
)

// Stamp is templated's ownership and build metadata on a guest.
type Stamp struct {
	Template   string
	Release    string
	InputsHash string // full hex sha256 in descriptions; 12-hex prefix from tags
	BuiltAt    time.Time
	BuildID    string
	Commit     string
	Role       Role
	// Installation is the id of the templated installation (state
	// directory) that made the guest; clean-up deletes only its own.
	Installation string
	// Plugin is the packer-plugin-proxmox version the build ran with
	// ("1.2.4"; empty when unknown), so that a plan tells a plugin change
	// from other input changes.
	Plugin string
	// Images are the checksums ("sha256:<hex>") of the images the guest
	// was built from (for a base VM: the one image); read from tags they
	// are the digests' first 12 hex only (ImageDigest compares both).
	Images []string
}

// ImageDigest returns the part of an image checksum a tag keeps: the first
// 12 hex digits of the digest ("sha256:3f1c…" and "3f1c…" give the same).
func ImageDigest(checksum string) string {
	if _, hex, ok := strings.Cut(checksum, ":"); ok {
		checksum = hex
	}
	return shortHash(strings.ToLower(checksum))
}

// HasImage reports whether s was built from the image with checksum.
func (s Stamp) HasImage(checksum string) bool {
	want := ImageDigest(checksum)
	for _, c := range s.Images {
		if ImageDigest(c) == want {
			return true
		}
	}
	return false
}

// Tags returns the tags that carry s, plus extra tags, normalised as PVE
// stores them.
func (s Stamp) Tags(extra ...string) []string {
	tags := append([]string{TagOwner}, extra...)
	switch s.Role {
	case RoleStaging:
		tags = append(tags, TagStaging)
	case RolePrevious:
		tags = append(tags, TagPrevious)
	case RoleBase:
		tags = append(tags, TagBase)
	}
	for _, c := range s.Images {
		tags = append(tags, tagImage+ImageDigest(c))
	}
	if s.Release != "" {
		tags = append(tags, tagRelease+tagSafe(s.Release))
	}
	if s.InputsHash != "" {
		tags = append(tags, tagInputs+shortHash(s.InputsHash))
	}
	if !s.BuiltAt.IsZero() {
		tags = append(tags, tagBuilt+strings.ToLower(s.BuiltAt.UTC().Format(tagTime)))
	}
	if s.Installation != "" {
		tags = append(tags, tagBy+tagSafe(s.Installation))
	}
	if s.Plugin != "" {
		tags = append(tags, tagPlugin+tagSafe(s.Plugin))
	}
	if s.Template != "" {
		tags = append(tags, tagTemplate+tagSafe(s.Template))
	}
	return NormalizeTags(tags)
}

// Description returns the description text that carries s.
func (s Stamp) Description() string {
	var b strings.Builder
	b.WriteString(stampHeader + "\n")
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	line("template", s.Template)
	line("role", string(s.Role))
	line("release", s.Release)
	if s.InputsHash != "" {
		line("inputs", "sha256:"+s.InputsHash)
	}
	if !s.BuiltAt.IsZero() {
		line("built", s.BuiltAt.UTC().Format(time.RFC3339))
	}
	line("build-id", s.BuildID)
	line("installation", s.Installation)
	line("plugin", s.Plugin)
	line("images", strings.Join(s.Images, ", "))
	line("commit", s.Commit)
	return strings.TrimRight(b.String(), "\n")
}

// StampFromTags reads the stamp a guest's tags carry. ok is false when the
// guest does not carry the owner tag. Fields the tags do not carry
// (template name, build id, commit) stay empty; the release is as the tag
// has it (lower-case).
func StampFromTags(tags []string) (s Stamp, ok bool) {
	s.Role = RoleTemplate
	for _, t := range tags {
		switch {
		case t == TagOwner:
			ok = true
		case t == TagStaging:
			s.Role = RoleStaging
		case t == TagPrevious:
			s.Role = RolePrevious
		case t == TagBase:
			s.Role = RoleBase
		case strings.HasPrefix(t, tagImage):
			s.Images = append(s.Images, strings.TrimPrefix(t, tagImage))
		case strings.HasPrefix(t, tagRelease):
			s.Release = strings.TrimPrefix(t, tagRelease)
		case strings.HasPrefix(t, tagInputs):
			s.InputsHash = strings.TrimPrefix(t, tagInputs)
		case strings.HasPrefix(t, tagBuilt):
			if at, err := time.Parse(tagTime, strings.TrimPrefix(t, tagBuilt)); err == nil {
				s.BuiltAt = at.UTC()
			}
		case strings.HasPrefix(t, tagBy):
			s.Installation = strings.TrimPrefix(t, tagBy)
		case strings.HasPrefix(t, tagPlugin):
			s.Plugin = strings.TrimPrefix(t, tagPlugin)
		case strings.HasPrefix(t, tagTemplate):
			s.Template = strings.TrimPrefix(t, tagTemplate)
		}
	}
	return s, ok
}

var descLine = regexp.MustCompile(`^([a-z-]+): (.*)$`)

// StampFromDescription reads the stamp from a description written by
// Description. ok is false when the description was not written by
// templated.
func StampFromDescription(desc string) (s Stamp, ok bool) {
	lines := strings.Split(strings.ReplaceAll(desc, "\r\n", "\n"), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != stampHeader {
		return Stamp{}, false
	}
	s.Role = RoleTemplate
	for _, l := range lines[1:] {
		m := descLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		switch v := m[2]; m[1] {
		case "template":
			s.Template = v
		case "role":
			s.Role = Role(v)
		case "release":
			s.Release = v
		case "inputs":
			s.InputsHash = strings.TrimPrefix(v, "sha256:")
		case "built":
			if at, err := time.Parse(time.RFC3339, v); err == nil {
				s.BuiltAt = at.UTC()
			}
		case "build-id":
			s.BuildID = v
		case "installation":
			s.Installation = v
		case "plugin":
			s.Plugin = v
		case "images":
			for _, c := range strings.Split(v, ",") {
				if c = strings.TrimSpace(c); c != "" {
					s.Images = append(s.Images, c)
				}
			}
		case "commit":
			s.Commit = v
		}
	}
	return s, true
}

// ForeignTags returns the tags that are not part of templated's stamp
// (people's own tags, such as "golden"), which copies should keep.
func ForeignTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		switch {
		case t == TagOwner, t == TagStaging, t == TagPrevious, t == TagBase, strings.HasPrefix(t, tagImage),
			strings.HasPrefix(t, tagRelease), strings.HasPrefix(t, tagInputs), strings.HasPrefix(t, tagBuilt),
			strings.HasPrefix(t, tagBy), strings.HasPrefix(t, tagPlugin), strings.HasPrefix(t, tagTemplate):
		default:
			out = append(out, t)
		}
	}
	return out
}

// DescriptionNotes returns what a stamped description holds after the
// stamp block (the first blank line ends it): notes people or `templated
// adopt` added, which copies should keep. It is "" for a description
// without a stamp.
func DescriptionNotes(desc string) string {
	if _, ok := StampFromDescription(desc); !ok {
		return ""
	}
	_, notes, _ := strings.Cut(strings.ReplaceAll(desc, "\r\n", "\n"), "\n\n")
	return strings.TrimSpace(notes)
}

// WithNotes appends notes to a stamp description after a blank line.
func WithNotes(desc, notes string) string {
	if notes == "" {
		return desc
	}
	return desc + "\n\n" + notes
}

// MadeBy reports whether a stamp names installation as its maker. A stamp
// without an installation (made before templated recorded one) counts as
// every installation's.
func (s Stamp) MadeBy(installation string) bool {
	return s.Installation == "" || s.Installation == tagSafe(installation)
}

// SameInputs reports whether the inputs hash a stamp carries (full, or the
// tag's prefix) is the hash full.
func SameInputs(stamped, full string) bool {
	if stamped == "" || full == "" {
		return false
	}
	return strings.HasPrefix(full, stamped) || strings.HasPrefix(stamped, full)
}

func shortHash(h string) string {
	if len(h) > InputsTagLen {
		return h[:InputsTagLen]
	}
	return h
}

// tagSafe maps a string onto PVE's tag alphabet [a-z0-9_\-+.].
func tagSafe(s string) string {
	s = strings.ToLower(s)
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-', r == '+', r == '.':
			return r
		}
		return '_'
	}, s)
}

// NormalizeTags returns tags as PVE stores them: split on ';', ',' and
// spaces, lower-cased, sorted, de-duplicated.
func NormalizeTags(tags []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range tags {
		for _, f := range strings.FieldsFunc(t, func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
			f = strings.ToLower(f)
			if f != "" && !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	sort.Strings(out)
	return out
}
