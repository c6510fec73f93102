package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// decide runs the checks a new revision must pass, in order: descent from
// the revision in force (unless allowed once), signature, checkout,
// Validate. It returns the acceptance code, a *refusal, or an error.
func (s *Source) decide(ctx context.Context, cur *Revision, c *object.Commit, rev *Revision) (string, error) {
	code := acceptFirst
	if cur != nil {
		code = acceptForward
		ok, why, err := s.descends(cur.Commit, c)
		if err != nil {
			return "", err
		}
		if !ok {
			if !s.allowedRewrite(rev.Commit) {
				return "", &refusal{RefusedRewrite, why}
			}
			code = acceptRewrite
		}
	}
	if s.cfg.Verifier != nil {
		signer, err := s.verify(c)
		if err != nil {
			return "", err
		}
		rev.Signer = signer
	}
	dir, err := s.checkout(c)
	if err != nil {
		return "", err
	}
	root := filepath.Join(dir, s.cfg.Path)
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return "", &refusal{RefusedInvalid, fmt.Sprintf("path %q is not a directory in %s", s.cfg.Path, short(rev.Commit))}
	}
	if s.cfg.Validate != nil {
		if err := s.cfg.Validate(ctx, root); err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", &refusal{RefusedInvalid, err.Error()}
		}
	}
	return code, nil
}

// descends reports whether c descends from the commit in force, and if
// not, why.
func (s *Source) descends(from string, c *object.Commit) (bool, string, error) {
	old, err := s.repo.CommitObject(plumbing.NewHash(from))
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return false, fmt.Sprintf("%s: the applied %s is not in the fetched history", short(c.Hash.String()), short(from)), nil
	}
	if err != nil {
		return false, "", fmt.Errorf("read applied commit %s: %w", from, err)
	}
	ok, err := old.IsAncestor(c)
	if err != nil {
		return false, "", fmt.Errorf("walk history of %s: %w", c.Hash, err)
	}
	return ok, fmt.Sprintf("%s does not descend from the applied %s", short(c.Hash.String()), short(from)), nil
}

// verify hands the commit's signature and signed payload to the Verifier.
func (s *Source) verify(c *object.Commit) (string, error) {
	if strings.TrimSpace(c.PGPSignature) == "" {
		return "", &refusal{RefusedUnsigned, fmt.Sprintf("%s is not signed", short(c.Hash.String()))}
	}
	obj := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(obj); err != nil {
		return "", fmt.Errorf("encode %s: %w", c.Hash, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", c.Hash, err)
	}
	defer r.Close()
	payload, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", c.Hash, err)
	}
	signer, err := s.cfg.Verifier.Verify(c.PGPSignature, payload)
	if errors.Is(err, ErrKeyFile) {
		// The allowed keys could not be read: the commit was never judged,
		// so this is the source failing (retried), not a refusal.
		return "", fmt.Errorf("verify %s: %w", short(c.Hash.String()), err)
	}
	if err != nil {
		return "", &refusal{RefusedSigner, fmt.Sprintf("%s: %v", short(c.Hash.String()), err)}
	}
	return signer, nil
}
