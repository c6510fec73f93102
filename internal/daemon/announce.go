package daemon

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"templated/internal/state"
)

// ReasonImageUpdated is the plan's reason code for a template whose image
// has a newer release (plan.ReasonImageUpdated; the daemon does not import
// the plan).
const ReasonImageUpdated = "image-updated"

// Announcement is one thing worth telling people; Kind is one of state's
// Notify* event kinds (docs/notifications.md). It holds nothing
// secret: errors are redacted by the reconciler before they get here.
type Announcement struct {
	Kind     string
	Template string
	// Nodes are the nodes that hold the template (its own, then its
	// replicas').
	Nodes   []string
	BuildID string
	Release string
	// Reason is a short machine word (a plan reason code, a ledger
	// status, a doctor check id); Message the one line for people.
	Reason  string
	Message string
}

// Announcer passes announcements on (notifications). Announce must not
// block on the network: it queues.
type Announcer interface {
	Announce(ctx context.Context, a Announcement)
}

// announce passes a on when an Announcer is configured.
func (d *Daemon) announce(ctx context.Context, a Announcement) {
	if d.opts.Announcer != nil {
		d.opts.Announcer.Announce(ctx, a)
	}
}

// announceRun tells what a run did to each template: builds that failed
// or succeeded, new releases of images, templates older than their
// max_age that the run did not rebuild, and the templates it suspended.
func (d *Daemon) announceRun(ctx context.Context, des *state.Desired, out Outcome, suspended []release, now time.Time) {
	for _, o := range out.Templates {
		t, ok := des.Template(o.Name)
		var nodes []string
		if ok {
			nodes = t.Nodes()
		}
		switch o.Build {
		case BuildFailure:
			d.announce(ctx, Announcement{Kind: state.NotifyBuildFailed, Template: o.Name, Nodes: nodes, BuildID: o.BuildID, Release: o.Release,
				Reason: "build-failed", Message: firstLine(o.Error)})
		case BuildSuccess:
			d.announce(ctx, Announcement{Kind: state.NotifyBuildSucceeded, Template: o.Name, Nodes: nodes, BuildID: o.BuildID, Release: o.Release,
				Reason: "build-succeeded", Message: fmt.Sprintf("%s %s built and swapped in (%s)", o.Name, o.Release, o.Duration.Round(time.Second))})
		}
		if slices.Contains(o.ReasonCodes, ReasonImageUpdated) {
			d.announce(ctx, Announcement{Kind: state.NotifyImageUpdated, Template: o.Name, Release: o.Release,
				Reason: ReasonImageUpdated, Message: firstLine(o.Reason)})
		}
		if ok && t.MaxAge > 0 && !o.BuiltAt.IsZero() && now.Sub(o.BuiltAt) > t.MaxAge && o.Build != BuildSuccess {
			d.announce(ctx, Announcement{Kind: state.NotifyStale, Template: o.Name, Release: cmp.Or(o.BuiltRelease, o.Release), Reason: "max-age",
				Message: fmt.Sprintf("%s was built %s ago, longer than its max_age %s, and was not rebuilt (%s)",
					o.Name, shortDuration(now.Sub(o.BuiltAt)), shortDuration(t.MaxAge), cmp.Or(firstLine(o.Reason), string(o.Action)))})
		}
	}
	for _, s := range suspended {
		d.announce(ctx, Announcement{Kind: state.NotifySuspended, Template: s.name, Reason: "suspended", Message: s.why})
	}
}

// announceAudit tells of a full check of the ledger that needs a person:
// a witness requirement that failed, or damage.
func (d *Daemon) announceAudit(ctx context.Context, r AuditResult) {
	if r.Intact {
		return
	}
	kind := state.NotifyLedgerFailed
	if r.Status == "unwitnessed" {
		kind = state.NotifyWitnessDisagrees
	}
	d.announce(ctx, Announcement{Kind: kind, Reason: r.Status,
		Message: fmt.Sprintf("evidence ledger %s: %d finding(s); first: %s", r.Status, r.Findings, firstLine(r.First))})
}
