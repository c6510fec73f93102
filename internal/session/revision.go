package session

import (
	"context"
	"time"

	"templated/internal/gitsource"
	"templated/internal/ledger"
	"templated/internal/redact"
	"templated/internal/state"
)

// RecordSource implements gitsource.Recorder: each accepted or refused
// git revision is a ledger entry naming the revision, its signer and why.
func (r *DaemonReconciler) RecordSource(ctx context.Context, ev gitsource.Event) error {
	e := ledger.Entry{Kind: ledger.KindSourceRefused, Result: "refused",
		Git:    RevisionGit(StateRevision(ev.Revision)),
		Reason: &ledger.Reason{Code: ev.Code, Detail: redact.Bound(ev.Detail, redact.MaxErrorText)}}
	if ev.Kind == "accepted" {
		e.Kind, e.Result = ledger.KindSourceAccepted, "accepted"
	}
	if ev.Previous != "" {
		e.Detail = map[string]string{"previous": ev.Previous}
	}
	return r.append(ctx, e)
}

// StateRevision is the model's view of a fetched revision.
func StateRevision(rev gitsource.Revision) *state.Revision {
	return &state.Revision{Repo: rev.URL, Ref: rev.Ref, Resolved: rev.Resolved, Commit: rev.Commit,
		Signer: rev.Signer, FetchedAt: rev.FetchedAt}
}

// RevisionGit is the ledger's record of a fetched revision.
func RevisionGit(s *state.Revision) *ledger.Git {
	if s == nil {
		return nil
	}
	g := &ledger.Git{Repo: s.Repo, Commit: s.Commit, Fetched: true, Ref: s.Ref, Signer: s.Signer}
	if s.Resolved != "" {
		g.Ref = s.Resolved
	}
	if !s.FetchedAt.IsZero() {
		g.FetchedAt = s.FetchedAt.UTC().Format(time.RFC3339)
	}
	return g
}
