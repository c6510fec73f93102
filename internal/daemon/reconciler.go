package daemon

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"templated/internal/state"
)

// Reconciler runs one level-triggered reconcile: it observes the cluster,
// plans against req.Desired, carries the plan out and reports what happened
// per template. It must not trust anything from earlier runs.
//
// Contract:
//   - Call req.Observed once the cluster has been read successfully (the
//     daemon signals readiness then, long before a build finishes).
//   - Templates in req.Suspended (also marked Suspended in req.Desired) must
//     not be built; report them as ActionBlocked.
//   - When the cluster cannot be read, return an error wrapped with
//     Unreachable and an Outcome with Observed false, and take no
//     destructive step; the daemon backs off and retries. So too for an
//     error after the observation that means Proxmox is failing (not a build
//     of one template). Any other error (Packer missing, a local file
//     unreadable) is a failed run: no backoff, the next trigger or the
//     interval runs again, and without an observation the daemon is not
//     ready.
//   - When ctx is cancelled, stop running builds (Packer gets SIGINT and its
//     grace period) and return.
type Reconciler interface {
	Reconcile(ctx context.Context, req Request) (Outcome, error)
}

// ReconcilerFunc adapts a function to Reconciler.
type ReconcilerFunc func(ctx context.Context, req Request) (Outcome, error)

// Reconcile calls f.
func (f ReconcilerFunc) Reconcile(ctx context.Context, req Request) (Outcome, error) {
	return f(ctx, req)
}

var _ Reconciler = ReconcilerFunc(nil)

// Request is one reconcile.
type Request struct {
	// Desired is the last good desired state. It is a copy: templates the
	// daemon suspended carry Suspended and SuspendReason.
	Desired *state.Desired
	// Trigger says why this run happens.
	Trigger Trigger
	// Suspended names the templates the daemon suspended (name → reason).
	Suspended map[string]string
	// Observed is to be called once the cluster was read successfully.
	// It is never nil and may be called more than once.
	Observed func()
}

// Reason is one cause of a reconcile.
type Reason string

const (
	ReasonStart    Reason = "start"
	ReasonFile     Reason = "file change"
	ReasonRevision Reason = "new revision"
	ReasonSchedule Reason = "patch schedule"
	ReasonInterval Reason = "interval"
	ReasonReload   Reason = "reload"
	ReasonRetry    Reason = "retry"
	ReasonResume   Reason = "resume"
)

// Trigger is every cause coalesced into one run.
type Trigger struct {
	// Reasons in the order they first arrived, each once.
	Reasons []Reason
	// Due names the templates whose patch schedule fired (sorted). The
	// planner decides from build times whether a patch rebuild is due; this
	// is for logs and the ledger.
	Due []string
}

// Has reports whether r is one of t's reasons.
func (t Trigger) Has(r Reason) bool { return slices.Contains(t.Reasons, r) }

// Primary is the first reason, used as the metrics label.
func (t Trigger) Primary() Reason {
	if len(t.Reasons) == 0 {
		return ""
	}
	return t.Reasons[0]
}

// String lists the reasons: "file change, patch schedule (tpl-rocky-9)".
func (t Trigger) String() string {
	parts := make([]string, 0, len(t.Reasons))
	for _, r := range t.Reasons {
		s := string(r)
		if r == ReasonSchedule && len(t.Due) > 0 {
			s += " (" + strings.Join(t.Due, ", ") + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// merge adds o's reasons and due templates to t.
func (t *Trigger) merge(o Trigger) {
	for _, r := range o.Reasons {
		if !t.Has(r) {
			t.Reasons = append(t.Reasons, r)
		}
	}
	for _, n := range o.Due {
		if !slices.Contains(t.Due, n) {
			t.Due = append(t.Due, n)
		}
	}
	slices.Sort(t.Due)
}

// onlyReloads reports whether every reason asks for a desired reload and
// nothing else (a rejected file then means nothing to do).
func (t Trigger) onlyReloads() bool {
	for _, r := range t.Reasons {
		if r != ReasonFile && r != ReasonRevision && r != ReasonReload {
			return false
		}
	}
	return len(t.Reasons) > 0
}

// Action is what a run decided for one template.
type Action string

const (
	ActionCreate  Action = "create"
	ActionRebuild Action = "rebuild"
	ActionKeep    Action = "keep"
	ActionBlocked Action = "blocked"
)

// BuildStatus is what became of a template's build in one run.
type BuildStatus string

const (
	BuildNone    BuildStatus = "none"
	BuildSuccess BuildStatus = "success"
	BuildFailure BuildStatus = "failure"
)

// Outcome is what one reconcile did.
type Outcome struct {
	// Observed is true when the cluster was read.
	Observed bool
	// APIErrors counts Proxmox API errors the run met (for metrics).
	APIErrors int
	// Templates has one entry per desired template the run looked at.
	Templates []TemplateOutcome
}

// TemplateOutcome is one template's part of an Outcome.
type TemplateOutcome struct {
	Name string
	VMID int
	// Release is the desired release (the one a build makes);
	// BuiltRelease the release of the template at its VMID ("" when
	// unknown or nothing is there).
	Release      string
	BuiltRelease string
	Action       Action
	// Reason says why Action was chosen, for people; ReasonCodes are the
	// plan's codes for it ("image-updated", "max-age", ...).
	Reason      string
	ReasonCodes []string
	Build       BuildStatus
	// BuildID names the build Build reports ("" without a build).
	BuildID string
	// Error is the build's error when Build is BuildFailure.
	Error string
	// Duration is how long the build took (0 without a build).
	Duration time.Duration
	// BuiltAt is when the template at its VMID was built (zero: unknown).
	BuiltAt time.Time
	// Drift is a short word: "none", "drifted", "missing", "stale",
	// "unknown".
	Drift string
	// NextRebuild is when the next scheduled rebuild is due; zero lets the
	// daemon compute it from the patch schedule and max age.
	NextRebuild time.Time
	// InputsHash is the template's inputs hash (desired entry and Packer
	// files); a suspended template whose hash changes is released.
	InputsHash string
	// Images are the images the template at its VMID was built from
	// ("ubuntu-24.04-cloud@3f1c2e44a1b2"; a digest alone when the desired
	// file no longer names it).
	Images []string
	// Clones counts the guests cloned from the template by the build they
	// came from (nil: not observed).
	Clones *CloneCounts
}

// unreachableError marks an error as "Proxmox unreachable or failing".
type unreachableError struct{ err error }

func (e *unreachableError) Error() string     { return e.err.Error() }
func (e *unreachableError) Unwrap() error     { return e.err }
func (e *unreachableError) Unreachable() bool { return true }

// Unreachable marks err as meaning that Proxmox cannot be reached or is
// failing, so that the daemon backs off instead of counting a template's
// build failure. It returns nil for nil.
func Unreachable(err error) error {
	if err == nil {
		return nil
	}
	return &unreachableError{err: err}
}

// IsUnreachable reports whether err (or an error it wraps) says Proxmox is
// unreachable.
func IsUnreachable(err error) bool {
	var u interface{ Unreachable() bool }
	return errors.As(err, &u) && u.Unreachable()
}
