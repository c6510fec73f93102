package gitsource

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"templated/internal/atomicfile"
)

// The source's state directory.
const (
	repoDir      = "repo.git"      // the bare repository
	checkoutsDir = "checkouts"     // one immutable directory per commit
	currentLink  = "current"       // -> checkouts/<commit> in force
	appliedFile  = "applied.json"  // the Revision in force: the truth on restart
	historyFile  = "history.json"  // the commits accepted, newest last
	allowFile    = "allow-rewrite" // a commit that may rewrite history, once
	tmpMark      = ".tmp-"         // in the name of unfinished checkouts
	keepPrevious = 3               // checkouts kept besides the one in force
)

func (s *Source) checkoutPath(commit string) string {
	return filepath.Join(s.cfg.Dir, checkoutsDir, commit)
}

// restore reads the revision in force back from applied.json and puts
// its checkout and the current link right.
func (s *Source) restore() error {
	b, _, err := atomicfile.ReadRegular(filepath.Join(s.cfg.Dir, appliedFile), 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("git source: %w", err)
	}
	var rev Revision
	if err := json.Unmarshal(b, &rev); err != nil || !isHash(rev.Commit) {
		return fmt.Errorf("git source: %s does not hold a revision", filepath.Join(s.cfg.Dir, appliedFile))
	}
	s.setCurrent(rev)
	s.m.setRevision(rev)
	return s.repairCurrent()
}

// repairCurrent re-creates the checkout in force when it is missing (if
// the repository has it) and points current at it. It is called on New
// and after each fetch, so a lost checkout comes back.
func (s *Source) repairCurrent() error {
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	if cur == nil {
		return nil
	}
	if _, err := os.Lstat(s.checkoutPath(cur.Commit)); errors.Is(err, fs.ErrNotExist) {
		c, err := s.repo.CommitObject(plumbingHash(cur.Commit))
		if err != nil {
			s.log.WithField("commit", cur.Commit).Warn("git source: the checkout in force is missing and not yet fetched")
			return nil
		}
		if _, err := s.checkout(c); err != nil {
			return fmt.Errorf("git source: restore checkout %s: %w", cur.Commit, err)
		}
		s.setCurrent(*cur)
	}
	want := filepath.Join(checkoutsDir, cur.Commit)
	if got, err := os.Readlink(filepath.Join(s.cfg.Dir, currentLink)); err == nil && got == want {
		return nil
	}
	return s.pointCurrent(cur.Commit)
}

// pointCurrent swaps the current symlink to checkouts/<commit>: a new link
// renamed over the old one, then the directory synced.
func (s *Source) pointCurrent(commit string) error {
	tmp := filepath.Join(s.cfg.Dir, tmpMark+currentLink+"-"+commit[:12])
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join(checkoutsDir, commit), tmp); err != nil {
		return fmt.Errorf("point current at %s: %w", commit, err)
	}
	if err := os.Rename(tmp, filepath.Join(s.cfg.Dir, currentLink)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("point current at %s: %w", commit, err)
	}
	return atomicfile.SyncDir(s.cfg.Dir)
}

// writeApplied records rev as the revision in force, and appends it to the
// history that decides which checkouts are kept.
func (s *Source) writeApplied(rev Revision) ([]string, error) {
	b, err := json.MarshalIndent(rev, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.cfg.Dir, appliedFile), append(b, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("record applied revision: %w", err)
	}
	hist := s.readHistory()
	hist = append(slices.DeleteFunc(hist, func(c string) bool { return c == rev.Commit }), rev.Commit)
	if len(hist) > keepPrevious+1 {
		hist = hist[len(hist)-keepPrevious-1:]
	}
	hb, _ := json.Marshal(hist)
	if err := atomicfile.WriteFile(filepath.Join(s.cfg.Dir, historyFile), hb, 0o600); err != nil {
		return nil, fmt.Errorf("record history: %w", err)
	}
	return hist, nil
}

func (s *Source) readHistory() []string {
	b, _, err := atomicfile.ReadRegular(filepath.Join(s.cfg.Dir, historyFile), 1<<16)
	var hist []string
	if err != nil || json.Unmarshal(b, &hist) != nil {
		return nil
	}
	return slices.DeleteFunc(hist, func(c string) bool { return !isHash(c) })
}

// prune removes every checkout (and unfinished checkout) but those in
// keep.
func (s *Source) prune(keep []string) {
	dir := filepath.Join(s.cfg.Dir, checkoutsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.log.WithError(err).Warn("git source: list checkouts")
		return
	}
	for _, e := range entries {
		if slices.Contains(keep, e.Name()) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			s.log.WithError(err).WithField("checkout", e.Name()).Warn("git source: remove old checkout")
		}
	}
}

// AllowRewrite lets the daemon whose state directory is dir accept, once,
// a revision that does not descend from the applied one. commit is a full
// hash, or a prefix of at least 7 hex digits naming exactly one commit in
// dir's repository; the full hash is written atomically to
// dir/allow-rewrite.
func AllowRewrite(dir, commit string) error {
	commit = strings.ToLower(strings.TrimSpace(commit))
	if len(commit) < 7 || len(commit) > 40 || strings.Trim(commit, "0123456789abcdef") != "" {
		return fmt.Errorf("allow rewrite: %q is not a commit hash or a prefix of 7 or more hex digits", commit)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("allow rewrite: state directory %s: %w", dir, errOr(err, errors.New("not a directory")))
	}
	if len(commit) < 40 {
		full, err := expandPrefix(filepath.Join(dir, repoDir), commit)
		if err != nil {
			return fmt.Errorf("allow rewrite: %w", err)
		}
		commit = full
	}
	// 0644: a hash is no secret, and the CLI may run as another user than
	// the daemon (which owns dir, so it can remove the file).
	if err := atomicfile.WriteFile(filepath.Join(dir, allowFile), []byte(commit+"\n"), 0o644); err != nil {
		return fmt.Errorf("allow rewrite: %w", err)
	}
	return nil
}

// allowedRewrite reports whether dir/allow-rewrite names commit.
func (s *Source) allowedRewrite(commit string) bool {
	b, _, err := atomicfile.ReadRegular(filepath.Join(s.cfg.Dir, allowFile), 1<<10)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil {
		s.log.WithError(err).Warn("git source: read the rewrite allowance")
		return false
	}
	want := strings.ToLower(strings.TrimSpace(string(b)))
	return len(want) >= 7 && strings.HasPrefix(commit, want)
}

// useAllowance removes the allowance once it let its commit through.
func (s *Source) useAllowance() {
	if err := os.Remove(filepath.Join(s.cfg.Dir, allowFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.WithError(err).Warn("git source: remove the used rewrite allowance")
		return
	}
	if err := atomicfile.SyncDir(s.cfg.Dir); err != nil {
		s.log.WithError(err).Warn("git source: sync state directory")
	}
}

func isHash(s string) bool {
	return len(s) == 40 && strings.Trim(s, "0123456789abcdef") == ""
}

func errOr(err, alt error) error {
	if err != nil {
		return err
	}
	return alt
}
