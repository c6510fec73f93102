package session

import (
	"context"
	"path"
	"strconv"

	"github.com/sirupsen/logrus"

	"templated/internal/daemon"
	"templated/internal/ledger"
	"templated/internal/notify"
)

// notifier queues notifications (notify.Dispatcher).
type notifier interface {
	Notify(ctx context.Context, e notify.Event) error
}

// Announcer passes the daemon's announcements on as notifications: the
// event as the daemon saw it, with the build's evidence folder (relative
// to the evidence root) when it names a build.
type Announcer struct {
	Notifier notifier
	Log      logrus.FieldLogger
}

var _ daemon.Announcer = (*Announcer)(nil)

// Announce implements daemon.Announcer. A notification that cannot be
// queued is logged; the run goes on.
func (a *Announcer) Announce(ctx context.Context, an daemon.Announcement) {
	ev := notify.Event{Kind: an.Kind, Template: an.Template, Nodes: an.Nodes, BuildID: an.BuildID, Release: an.Release,
		Reason: an.Reason, Message: an.Message}
	if an.Template != "" && an.BuildID != "" {
		ev.Evidence = path.Join(an.Template, an.BuildID)
	}
	if err := a.Notifier.Notify(ctx, ev); err != nil && a.Log != nil {
		a.Log.WithError(err).WithFields(logrus.Fields{"event": an.Kind, "template": an.Template}).Error("notification not queued")
	}
}

// Installation is the session's installation id, which notifications
// name.
func (s *Session) Installation() string { return s.installation }

// RecordDelivery implements notify.Recorder: each delivery and each
// give-up is a ledger entry naming the event, the sink and the attempts;
// the sink's address and secrets are never in it.
func (r *DaemonReconciler) RecordDelivery(ctx context.Context, d notify.Delivery) error {
	e := ledger.Entry{Kind: ledger.Kind(d.LedgerKind()), Template: d.Template, BuildID: d.BuildID, Result: string(d.Outcome), Error: d.Error,
		Detail: map[string]string{"event": d.Kind, "event_id": d.EventID, "sink": d.Sink, "sink_type": d.SinkType,
			"attempts": strconv.Itoa(d.Attempts)}}
	if d.Status != 0 {
		e.Detail["status"] = strconv.Itoa(d.Status)
	}
	return r.append(ctx, e)
}
