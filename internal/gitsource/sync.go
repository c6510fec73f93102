package gitsource

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/sirupsen/logrus"

	"templated/internal/redact"
)

// maxDetail bounds an event's Detail (a Validate message, a verifier's
// reason).
const maxDetail = 4 << 10

// maxUnrecorded bounds the acceptances kept for a Recorder that fails.
const maxUnrecorded = 32

// Acceptance codes (Event.Code of an "accepted" event).
const (
	acceptFirst   = "first"
	acceptForward = "forward"
	acceptRewrite = "rewrite-allowed"
)

// refusal is a decision not to put a fetched revision in force.
type refusal struct{ code, detail string }

func (r *refusal) Error() string { return r.code + ": " + r.detail }

type refusalKey struct{ commit, code string }

// Sync fetches once and decides on what was fetched. Calls are serialized:
// a second call waits for the first (or for its ctx). A fetch failure is
// returned (credential-free) and leaves the revision in force; a refusal
// is not an error but SyncResult.Refused.
func (s *Source) Sync(ctx context.Context) (SyncResult, error) {
	select {
	case s.syncSem <- struct{}{}:
	case <-ctx.Done():
		return SyncResult{}, ctx.Err()
	}
	defer func() { <-s.syncSem }()
	return s.sync(ctx)
}

func (s *Source) sync(ctx context.Context) (SyncResult, error) {
	s.flushUnrecorded(ctx)
	var ref *refusal
	if err := s.fetch(ctx); err != nil && !errors.As(err, &ref) {
		if ctx.Err() != nil {
			return SyncResult{}, ctx.Err() // shutting down: not the remote's failure
		}
		return SyncResult{}, s.fetchFailed(err)
	}
	res := SyncResult{Fetched: true}
	rev := Revision{URL: s.url, Ref: s.cfg.Ref, FetchedAt: s.fetchOK()}
	if err := s.repairCurrent(); err != nil {
		s.log.WithField("error", s.errorText(err)).Warn("git source: repair the revision in force")
	}
	cur := s.current()
	var c *object.Commit
	if ref == nil {
		name, commit, err := s.ref.resolve(s.repo)
		if err != nil && !errors.As(err, &ref) {
			return res, fmt.Errorf("git source: resolve %s: %w", s.cfg.Ref, err)
		}
		rev.Resolved, c = name.String(), commit
	}
	if ref != nil {
		res.Refused = s.refuse(ctx, rev, ref, cur)
		return res, nil
	}
	delete(s.reported, refusalKey{"", RefusedRef}) // the ref is back: a later loss is news
	rev.Commit, rev.CommittedAt = c.Hash.String(), c.Committer.When.UTC()
	if cur != nil && cur.Commit == rev.Commit {
		res.Revision = *cur
		s.clearRefused()
		return res, nil
	}
	code, err := s.decide(ctx, cur, c, &rev)
	res.Revision = rev
	switch {
	case errors.As(err, &ref):
		res.Refused = s.refuse(ctx, rev, ref, cur)
		return res, nil
	case err != nil && ctx.Err() != nil:
		return res, ctx.Err()
	case err != nil:
		s.log.WithField("commit", rev.Commit).WithField("error", s.errorText(err)).Error("git source: decide")
		return res, err
	}
	if err := s.accept(ctx, rev, code, cur); err != nil {
		return res, err
	}
	res.Changed = true
	return res, nil
}

// refuse keeps a refusal in Status and, the first time for its commit and
// code, logs and counts it; it is recorded until the Recorder takes it.
func (s *Source) refuse(ctx context.Context, rev Revision, r *refusal, cur *Revision) *Event {
	ev := &Event{Kind: "refused", Revision: rev, Code: r.code,
		Detail: redact.Bound(s.secrets.String(r.detail), maxDetail)}
	if cur != nil {
		ev.Previous = cur.Commit
	}
	s.mu.Lock()
	s.status.Refused = ev
	s.mu.Unlock()
	key := refusalKey{rev.Commit, r.code}
	recorded, seen := s.reported[key]
	if !seen {
		if len(s.reported) > 256 {
			clear(s.reported)
		}
		s.log.WithFields(logrus.Fields{"commit": rev.Commit, "code": r.code, "detail": ev.Detail}).Warn("git source: revision refused")
		s.m.refusals.WithLabelValues(r.code).Inc()
		if r.code == RefusedInvalid && rev.Commit != "" {
			s.prune(append(s.readHistory(), rev.Commit))
		}
	}
	if !recorded {
		s.reported[key] = s.record(ctx, *ev)
	}
	out := *ev
	return &out
}

// accept puts rev in force: applied.json (the truth), then the current
// link, then the event and the change notice.
func (s *Source) accept(ctx context.Context, rev Revision, code string, prev *Revision) error {
	hist, err := s.writeApplied(rev)
	if err != nil {
		return fmt.Errorf("git source: accept %s: %w", rev.Commit, err)
	}
	s.setCurrent(rev)
	s.clearRefused()
	linkErr := s.pointCurrent(rev.Commit) // on failure, the next Sync repairs it
	if code == acceptRewrite {
		s.useAllowance()
	}
	s.m.accepted.Inc()
	s.m.setRevision(rev)
	s.prune(hist)
	ev := Event{Kind: "accepted", Revision: rev, Code: code}
	if prev != nil {
		ev.Previous = prev.Commit
	}
	s.log.WithFields(logrus.Fields{"commit": rev.Commit, "previous": ev.Previous, "code": code, "signer": rev.Signer}).Info("git source: revision accepted")
	s.unrecorded = append(s.unrecorded, ev)
	s.flushUnrecorded(ctx)
	select {
	case s.changes <- s.Root():
	default:
	}
	return linkErr
}

// flushUnrecorded hands the acceptances not yet recorded to the Recorder,
// oldest first, until one is not taken (retried at the next Sync).
func (s *Source) flushUnrecorded(ctx context.Context) {
	for len(s.unrecorded) > 0 && s.record(ctx, s.unrecorded[0]) {
		s.unrecorded = s.unrecorded[1:]
	}
	if n := len(s.unrecorded) - maxUnrecorded; n > 0 {
		s.log.WithField("dropped", n).Error("git source: acceptances never recorded")
		s.unrecorded = s.unrecorded[n:]
	}
}

// record hands ev to the Recorder; it reports whether it was taken.
func (s *Source) record(ctx context.Context, ev Event) bool {
	if s.cfg.Recorder == nil {
		return true
	}
	if err := s.cfg.Recorder.RecordSource(ctx, ev); err != nil {
		s.log.WithFields(logrus.Fields{"kind": ev.Kind, "commit": ev.Revision.Commit, "error": s.errorText(err)}).Warn("git source: record event")
		return false
	}
	return true
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
