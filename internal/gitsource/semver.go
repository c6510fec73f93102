package gitsource

import (
	"fmt"
	"regexp"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/hashicorp/go-version"
)

// semverTag is the tag shape a semver ref considers: vX.Y.Z or X.Y.Z with
// an optional pre-release and build.
var semverTag = regexp.MustCompile(`^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

func (r refSpec) newestInRange(repo *git.Repository) (plumbing.ReferenceName, error) {
	tags, err := repo.Tags()
	if err != nil {
		return "", fmt.Errorf("list tags: %w", err)
	}
	var best *version.Version
	var bestName plumbing.ReferenceName
	err = tags.ForEach(func(ref *plumbing.Reference) error {
		short := ref.Name().Short()
		if !semverTag.MatchString(short) {
			return nil
		}
		v, err := version.NewSemver(short)
		if err != nil || !inRange(r.rng, v) {
			return nil
		}
		// Newest wins; between v1.2.0 and 1.2.0 the greater name, so the
		// choice does not depend on iteration order.
		if best == nil || v.GreaterThan(best) || (v.Equal(best) && ref.Name() > bestName) {
			best, bestName = v, ref.Name()
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("list tags: %w", err)
	}
	if best == nil {
		return "", &refusal{RefusedRef, fmt.Sprintf("no tag in range %q", r.label)}
	}
	return bestName, nil
}

// constraintOp splits one go-version constraint into operator and version.
var constraintOp = regexp.MustCompile(`^\s*(<=|>=|!=|~>|<|>|=)?\s*(\S+)\s*$`)

// inRange checks v against the range with npm's pre-release rule: a
// version without a pre-release is checked as go-version does; one with a
// pre-release only when some comparator names a pre-release of the same
// X.Y.Z, and then by plain precedence against every comparator (go-version
// alone would let "< 2.0" exclude every pre-release, so that
// ">= 1.4.0-rc.1, < 2.0" could never pick 1.4.0-rc.1).
func inRange(rng version.Constraints, v *version.Version) bool {
	if v.Prerelease() == "" {
		return rng.Check(v)
	}
	named := false
	for _, c := range rng {
		m := constraintOp.FindStringSubmatch(c.String())
		if m == nil {
			return false
		}
		cv, err := version.NewVersion(m[2])
		if err != nil {
			return false
		}
		if cv.Prerelease() != "" && cv.Core().Equal(v.Core()) {
			named = true
		}
		var ok bool
		switch m[1] {
		case "", "=":
			ok = v.Equal(cv)
		case "!=":
			ok = !v.Equal(cv)
		case ">":
			ok = v.GreaterThan(cv)
		case ">=":
			ok = v.GreaterThanOrEqual(cv)
		case "<":
			ok = v.LessThan(cv)
		case "<=":
			ok = v.LessThanOrEqual(cv)
		default: // ~>: go-version's own pre-release rule
			ok = c.Check(v)
		}
		if !ok {
			return false
		}
	}
	return named
}
