package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/daemon"
	"templated/internal/ledger"
	"templated/internal/plan"
	"templated/internal/proxmox"
	"templated/internal/reconcile"
	"templated/internal/redact"
	"templated/internal/state"
)

// DaemonReconciler runs the daemon's reconciles through a Session: it is
// the daemon's Reconciler and its Ledger.
type DaemonReconciler struct {
	Session *Session
	// Retention prunes build evidence older than this after each run
	// (0: never).
	Retention time.Duration
	Log       logrus.FieldLogger
}

var (
	_ daemon.Reconciler = (*DaemonReconciler)(nil)
	_ daemon.Ledger     = (*DaemonReconciler)(nil)
)

// Reconcile implements daemon.Reconciler.
func (r *DaemonReconciler) Reconcile(ctx context.Context, req daemon.Request) (daemon.Outcome, error) {
	// The writer's pipe and goroutine live until it is closed: close it
	// after each run, or every run leaks one until the GC finds it.
	progress := r.Log.WithField("component", "packer").WriterLevel(logrus.InfoLevel)
	defer progress.Close()
	told := false
	res, err := r.Session.Reconcile(ctx, req.Desired, Options{
		Trigger:  req.Trigger.String(),
		Observed: func(plan.Plan) { told = true; req.Observed() },
		Progress: progress,
	})
	if res.Observed && !told {
		req.Observed() // the run failed after reading the cluster (the lease held elsewhere)
	}
	if err != nil {
		if !res.Observed {
			if IsClusterError(err) {
				return daemon.Outcome{APIErrors: 1}, daemon.Unreachable(err)
			}
			return daemon.Outcome{}, err
		}
		return daemon.Outcome{Observed: true}, err
	}
	// Failed builds make the run a failure (logs, metrics); the daemon
	// counts them per template from the outcome.
	var failed []error
	for _, x := range res.Report.Failed() {
		failed = append(failed, fmt.Errorf("%s: %w", x.Template, x.Err))
	}
	if r.Retention > 0 {
		if led := r.Session.Ledger(); led != nil {
			if _, _, err := led.Prune(ctx, r.Retention); err != nil {
				failed = append(failed, fmt.Errorf("prune evidence: %w", err))
			}
		}
	}
	return Outcome(res.Plan, res.Report, time.Now()), errors.Join(failed...)
}

// Outcome turns a plan and its execution into the daemon's view.
func Outcome(p plan.Plan, rep reconcile.Report, now time.Time) daemon.Outcome {
	results := map[string]reconcile.Result{}
	for _, x := range rep.Results {
		results[x.Template] = x
	}
	out := daemon.Outcome{Observed: true}
	for _, a := range p.Actions {
		t := daemon.TemplateOutcome{Name: a.Template, VMID: a.VMID, Release: a.Release, Action: daemon.Action(a.Kind),
			Reason: ReasonMessages(a), ReasonCodes: reasonCodes(a), Build: daemon.BuildNone, Drift: Drift(a), InputsHash: a.InputsHash, Images: BuiltFrom(a)}
		if a.Current != nil && a.Current.BuiltAt != nil {
			t.BuiltAt, t.BuiltRelease = *a.Current.BuiltAt, a.Current.Release
		}
		t.Clones = CloneCounts(a)
		if res, ok := results[a.Template]; ok {
			t.Duration, t.BuildID = res.Duration, res.BuildID
			if res.Err != nil {
				t.Build, t.Error = daemon.BuildFailure, redact.Bound(res.Err.Error(), redact.MaxErrorText)
				if IsClusterError(res.Err) {
					out.APIErrors++
				}
			} else {
				t.Build, t.Drift = daemon.BuildSuccess, "none"
				supersede(t.Clones, t.BuiltAt, now)
				t.BuiltAt, t.BuiltRelease = now, a.Release
			}
		}
		out.Templates = append(out.Templates, t)
	}
	return out
}

// CloneCounts copies the plan's clone counts for the daemon, with every
// age bucket present (zeros included) so that the metrics keep their
// series; a template without clones counts zero.
func CloneCounts(a plan.Action) *daemon.CloneCounts {
	c := &daemon.CloneCounts{OutdatedByAge: make(map[string]int, len(reconcile.AgeBuckets))}
	for _, b := range reconcile.AgeBuckets {
		c.OutdatedByAge[b] = 0
	}
	if a.Clones != nil {
		c.Current, c.Outdated = a.Clones.Current, a.Clones.Outdated
		for b, n := range a.Clones.OutdatedByAge {
			c.OutdatedByAge[b] += n
		}
	}
	return c
}

// supersede counts the clones of the build a rebuild replaced (built at
// was) as outdated: they were current when planned.
func supersede(c *daemon.CloneCounts, was, now time.Time) {
	if c.Current == 0 {
		return
	}
	c.OutdatedByAge[reconcile.AgeBucket(now.Sub(was))] += c.Current
	c.Outdated, c.Current = c.Outdated+c.Current, 0
}

// BuiltFrom names the images the template at a's VMID was built from, as
// its stamp records them: "ubuntu-24.04-cloud@3f1c2e44a1b2" where the
// digest is one of the images the desired entry names, the digest alone
// otherwise.
func BuiltFrom(a plan.Action) []string {
	if a.Current == nil {
		return nil
	}
	var out []string
	for _, c := range a.Current.Images {
		d, name := state.ImageDigest(c), ""
		for _, u := range a.Images {
			if u.Checksum != "" && state.ImageDigest(u.Checksum) == d {
				name = u.Name
			}
		}
		if name == "" {
			out = append(out, d)
		} else {
			out = append(out, name+"@"+d)
		}
	}
	return out
}

// ReasonMessages joins an action's reasons for people.
func ReasonMessages(a plan.Action) string {
	var s string
	for i, r := range a.Reasons {
		if i > 0 {
			s += "; "
		}
		s += r.Message
	}
	return s
}

// Drift is one word for a plan action: none, missing, stale, drifted,
// blocked.
func Drift(a plan.Action) string {
	switch a.Kind {
	case plan.Keep:
		return "none"
	case plan.Create:
		return "missing"
	case plan.Blocked:
		return "blocked"
	}
	for _, r := range a.Reasons {
		if r.Code != plan.ReasonMaxAge && r.Code != plan.ReasonPatchDue {
			return "drifted"
		}
	}
	return "stale"
}

// reasonCodes are the codes of a's reasons, in order.
func reasonCodes(a plan.Action) []string {
	out := make([]string, len(a.Reasons))
	for i, r := range a.Reasons {
		out[i] = string(r.Code)
	}
	return out
}

// IsClusterError reports whether err says Proxmox is unreachable or
// failing rather than one build going wrong.
func IsClusterError(err error) bool {
	for _, k := range []error{proxmox.ErrUnreachable, proxmox.ErrTLS, proxmox.ErrAuth, proxmox.ErrTimeout, proxmox.ErrAPI} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// RecordRejected implements daemon.Ledger.
func (r *DaemonReconciler) RecordRejected(ctx context.Context, path, sha string, err error) error {
	return r.append(ctx, ledger.Entry{Kind: ledger.KindDesiredRejected, Result: "rejected", Error: redact.Bound(err.Error(), redact.MaxErrorText),
		Desired: &ledger.Desired{File: path, SHA256: sha}})
}

// RecordSuspended implements daemon.Ledger.
func (r *DaemonReconciler) RecordSuspended(ctx context.Context, template, reason string) error {
	return r.append(ctx, ledger.Entry{Kind: ledger.KindSuspend, Template: template, Result: "suspended",
		Detail: map[string]string{"reason": reason}})
}

// RecordReleased implements daemon.Ledger.
func (r *DaemonReconciler) RecordReleased(ctx context.Context, template, why string) error {
	return r.append(ctx, ledger.Entry{Kind: ledger.KindResume, Template: template, Result: "released",
		Detail: map[string]string{"reason": why}})
}

func (r *DaemonReconciler) append(ctx context.Context, e ledger.Entry) error {
	led := r.Session.Ledger()
	if led == nil {
		return errors.New("ledger not open")
	}
	_, err := led.Append(ctx, e)
	return err
}
