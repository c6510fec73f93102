package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/sirupsen/logrus"

	"templated/internal/redact"
)

// Source follows one ref of one git remote; see the package comment.
type Source struct {
	cfg     Config
	url     string // credential-free, as shown and as stored in the remote
	ssh     bool
	ref     refSpec
	secrets *redact.Secrets
	log     logrus.FieldLogger
	m       *metrics

	syncSem chan struct{} // held by the one Sync running
	kick    chan struct{}
	changes chan string
	repo    *git.Repository // used under syncSem only (and in New)

	// reported holds the refusals already logged, counted and recorded,
	// by commit and code; used under syncSem.
	reported map[refusalKey]bool
	// unrecorded are acceptances the Recorder did not take yet, oldest
	// first; used under syncSem.
	unrecorded []Event

	mu      sync.Mutex // guards the fields below
	cur     *Revision
	curRoot string // the concrete root of cur
	status  Status

	onSynced func() // test hook: called by Run after each Sync
}

// New validates cfg, opens (or creates) the source's repository under
// cfg.Dir and reads back the revision in force.
func New(cfg Config) (*Source, error) {
	s, err := newSource(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("git source state: %w", err)
	}
	if err := os.Mkdir(filepath.Join(s.cfg.Dir, checkoutsDir), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("git source state: %w", err)
	}
	if s.repo, err = openRepo(filepath.Join(s.cfg.Dir, repoDir), s.url); err != nil {
		return nil, err
	}
	if err := s.restore(); err != nil {
		return nil, err
	}
	keep := s.readHistory() // and remove what a crash left
	if cur := s.current(); cur != nil {
		keep = append(keep, cur.Commit)
	}
	s.prune(keep)
	if err := s.m.register(s.cfg.Registerer); err != nil {
		return nil, err
	}
	return s, nil
}

// Root is the stable path of the revision in force: Dir/current/<Path>,
// through the symlink that each acceptance swaps.
func (s *Source) Root() string { return Root(s.cfg.Dir, s.cfg.Path) }

// Root is the stable path of the revision in force of a source whose
// state directory is dir and whose repository subdirectory is path:
// known before the source is opened.
func Root(dir, path string) string { return filepath.Join(dir, currentLink, path) }

// Snapshot returns the revision in force and its concrete root (no
// symlink in it), read together; ok is false when none was ever accepted.
func (s *Source) Snapshot() (root string, rev Revision, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return "", Revision{}, false
	}
	return s.curRoot, *s.cur, true
}

// setCurrent makes rev the revision in force in memory.
func (s *Source) setCurrent(rev Revision) {
	root := filepath.Join(s.checkoutPath(rev.Commit), s.cfg.Path)
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, shown := rev, rev
	s.cur, s.curRoot = &cur, root
	s.status.Current = &shown
}

// Changes receives Root() after each newly accepted revision. It holds one
// pending change and drops the others.
func (s *Source) Changes() <-chan string { return s.changes }

// Kick asks Run for a fetch now. It never blocks; kicks made while a fetch
// runs coalesce into one more fetch.
func (s *Source) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run syncs at once, then every Interval and on each Kick, until ctx
// ends; it returns ctx.Err(). Sync errors are logged and counted by Sync.
func (s *Source) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		_, _ = s.Sync(ctx)
		if s.onSynced != nil {
			s.onSynced()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-s.kick:
		}
	}
}

// Close unregisters the source's metrics, so that a successor can
// register its own. It does not stop Run: its context does.
func (s *Source) Close() error {
	s.m.unregister()
	return nil
}

func (s *Source) now() time.Time { return s.cfg.Now() }

func (s *Source) revisionAge() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return 0
	}
	return s.now().Sub(s.cur.CommittedAt).Seconds()
}
