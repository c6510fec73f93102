package gitsource

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hashicorp/go-version"
)

type refKind int

const (
	refBranch refKind = iota
	refTag
	refSemver
)

// refSpec is a parsed Config.Ref.
type refSpec struct {
	kind  refKind
	name  string // branch or tag name (short)
	rng   version.Constraints
	label string // the range as configured
}

// parseRef parses "main", "refs/heads/main", "tag:v1", "refs/tags/v1" and
// "semver:<range>".
func parseRef(ref string) (refSpec, error) {
	var r refSpec
	switch {
	case ref == "":
		return r, errors.New("git source: ref is required")
	case strings.HasPrefix(ref, "semver:"):
		r.kind, r.label = refSemver, strings.TrimSpace(strings.TrimPrefix(ref, "semver:"))
		c, err := version.NewConstraint(r.label)
		if err != nil {
			return r, fmt.Errorf("git source: ref %q: %w", ref, err)
		}
		r.rng = c
		return r, nil
	case strings.HasPrefix(ref, "tag:"):
		r.kind, r.name = refTag, strings.TrimPrefix(ref, "tag:")
	case strings.HasPrefix(ref, "refs/tags/"):
		r.kind, r.name = refTag, strings.TrimPrefix(ref, "refs/tags/")
	case strings.HasPrefix(ref, "refs/heads/"):
		r.kind, r.name = refBranch, strings.TrimPrefix(ref, "refs/heads/")
	case strings.HasPrefix(ref, "refs/"):
		return r, fmt.Errorf("git source: ref %q: want a branch, refs/heads/…, tag:…, refs/tags/… or semver:…", ref)
	default:
		r.kind, r.name = refBranch, ref
	}
	if r.name == "" || strings.ContainsAny(r.name, "*") {
		return r, fmt.Errorf("git source: ref %q names no single branch or tag", ref)
	}
	if err := r.full().Validate(); err != nil {
		return r, fmt.Errorf("git source: ref %q: %w", ref, err)
	}
	return r, nil
}

// full is the remote's ref name (branch and tag refs only).
func (r refSpec) full() plumbing.ReferenceName {
	if r.kind == refBranch {
		return plumbing.NewBranchReferenceName(r.name)
	}
	return plumbing.NewTagReferenceName(r.name)
}

// fetchSpecs are the forced refspecs a fetch uses: a force-push is fetched,
// then judged.
func (r refSpec) fetchSpecs() []config.RefSpec {
	if r.kind == refBranch {
		return []config.RefSpec{config.RefSpec(fmt.Sprintf("+refs/heads/%s:refs/remotes/origin/%s", r.name, r.name))}
	}
	return []config.RefSpec{"+refs/tags/*:refs/tags/*"}
}

// resolve finds the commit the ref names in the fetched repository; a
// missing ref is a *refusal.
func (r refSpec) resolve(repo *git.Repository) (plumbing.ReferenceName, *object.Commit, error) {
	var name plumbing.ReferenceName
	switch r.kind {
	case refBranch:
		name = plumbing.NewRemoteReferenceName("origin", r.name)
	case refTag:
		name = r.full()
	case refSemver:
		n, err := r.newestInRange(repo)
		if err != nil {
			return "", nil, err
		}
		name = n
	}
	ref, err := repo.Reference(name, true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return "", nil, &refusal{RefusedRef, fmt.Sprintf("%s is not on the remote", r.full())}
	}
	if err != nil {
		return "", nil, fmt.Errorf("read %s: %w", name, err)
	}
	c, err := peel(repo, ref.Hash())
	if err != nil {
		return "", nil, err
	}
	if r.kind == refBranch {
		return r.full(), c, nil
	}
	return name, c, nil
}

// peel follows annotated tags to the commit.
func peel(repo *git.Repository, h plumbing.Hash) (*object.Commit, error) {
	for range 8 {
		obj, err := repo.Object(plumbing.AnyObject, h)
		if err != nil {
			return nil, fmt.Errorf("read object %s: %w", h, err)
		}
		switch o := obj.(type) {
		case *object.Commit:
			return o, nil
		case *object.Tag:
			h = o.Target
		default:
			return nil, &refusal{RefusedRef, fmt.Sprintf("the ref names a %s, not a commit", obj.Type())}
		}
	}
	return nil, &refusal{RefusedRef, "the tag chain is too long"}
}

func plumbingHash(s string) plumbing.Hash { return plumbing.NewHash(s) }

// expandPrefix returns the one commit in the repository at dir whose hash
// starts with prefix.
func expandPrefix(dir, prefix string) (string, error) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return "", fmt.Errorf("open %s to expand %s (give the full hash instead): %w", dir, prefix, err)
	}
	iter, err := repo.CommitObjects()
	if err != nil {
		return "", fmt.Errorf("list commits in %s: %w", dir, err)
	}
	var found []string
	err = iter.ForEach(func(c *object.Commit) error {
		if h := c.Hash.String(); strings.HasPrefix(h, prefix) && !slices.Contains(found, h) {
			found = append(found, h)
		}
		return nil
	})
	switch {
	case err != nil:
		return "", fmt.Errorf("list commits in %s: %w", dir, err)
	case len(found) == 0:
		return "", fmt.Errorf("no commit %s in %s (give the full hash)", prefix, dir)
	case len(found) > 1:
		return "", fmt.Errorf("%s names %d commits: give more digits", prefix, len(found))
	}
	return found[0], nil
}

// Follows reports whether a push to ref (a full ref name, as webhooks send
// it) can change what the source follows: its branch, or any tag for a tag
// or semver ref.
func (s *Source) Follows(ref string) bool {
	switch s.ref.kind {
	case refBranch:
		return ref == s.ref.full().String()
	default:
		return strings.HasPrefix(ref, "refs/tags/")
	}
}
