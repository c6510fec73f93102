package daemon

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/redact"
	"templated/internal/state"
)

// Run results, also the "result" label of the reconcile metrics.
const (
	resultSuccess     = "success"
	resultFailure     = "failure"
	resultUnreachable = "unreachable"
	resultCanceled    = "canceled"
	resultSkipped     = "skipped"
)

// runOnce handles one coalesced trigger: reload what the trigger asks for,
// reconcile, account for the outcome. It returns how long to wait before a
// retry (0: no retry needed), and false when no run took place (no valid
// desired file to run with).
func (d *Daemon) runOnce(ctx context.Context, t Trigger) (time.Duration, bool) {
	log := d.log.WithField("trigger", t.String())
	if t.Has(ReasonReload) && d.opts.OnReload != nil {
		if err := d.opts.OnReload(ctx); err != nil {
			log.WithError(err).Error("reload configuration")
		}
	}
	before := d.desired.Load()
	if before == nil || t.Has(ReasonFile) || t.Has(ReasonRevision) || t.Has(ReasonReload) {
		// Without a good desired state every trigger is a chance that a
		// valid file has appeared.
		// A new revision re-reads even an unchanged desired file: it comes
		// with its own workspace (and commit) to build from.
		rejected := d.reloadDesired(ctx, t.Has(ReasonReload) || t.Has(ReasonRevision))
		switch {
		case d.desired.Load() == nil:
			log.Info("no valid desired file yet; no run")
			d.met.reconciles.WithLabelValues(string(t.Primary()), resultSkipped).Inc()
			d.setWaiting()
			return 0, false
		case rejected && t.onlyReloads():
			log.Info("desired file rejected; no run")
			d.met.reconciles.WithLabelValues(string(t.Primary()), resultSkipped).Inc()
			d.setIdle("")
			return 0, false
		}
	}
	des := d.desired.Load()
	if des != before {
		d.reschedule(des)
	}
	suspended := d.prepareSuspensions(ctx, des)

	d.setRunning(t)
	log.Info("reconcile started")
	start := time.Now()
	out, err := d.reconcile(ctx, Request{
		Desired:   withSuspensions(des, suspended),
		Trigger:   t,
		Suspended: suspended,
		Observed:  d.observed,
	})
	dur := time.Since(start)
	if out.Observed {
		d.observed()
	}
	result := classify(ctx, out, err)
	d.met.observeRun(t.Primary(), result, dur, out)
	d.finishRun(t, start, dur, result, err, out)
	if result != resultCanceled {
		// A build interrupted by the stop is no failure of the template.
		d.account(ctx, des, out)
	}

	log = log.WithFields(logrus.Fields{"result": result, "duration": dur.Round(time.Millisecond).String()})
	switch result {
	case resultSuccess:
		d.bo.reset()
		log.Info("reconcile finished")
		d.setIdle("")
	case resultCanceled:
		log.Info("reconcile stopped")
	case resultUnreachable:
		wait := d.bo.next()
		log.WithError(err).WithField("retry_in", wait.String()).Warn("Proxmox unreachable")
		d.setBackoff(wait)
		return wait, true
	default:
		d.bo.reset()
		log.WithError(err).Error("reconcile failed")
		// The state line (systemd's STATUS, the page's heading) carries
		// the error's start; /status and the page have it whole.
		d.setIdle("last run failed: " + redact.Bound(err.Error(), maxStateError))
	}
	return 0, true
}

// maxStateError bounds the error in the daemon's one-line state.
const maxStateError = 200

// errPanic marks a run that panicked.
var errPanic = errors.New("internal error: reconcile panicked")

// reconcile calls the Reconciler and turns a panic into a failed run, as
// controller-runtime does: the daemon logs the stack and stays up, and the
// next trigger runs again (the journal holds whatever was half done).
func (d *Daemon) reconcile(ctx context.Context, req Request) (out Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			d.log.WithFields(logrus.Fields{"panic": fmt.Sprint(r), "stack": string(debug.Stack())}).Error("reconcile panicked")
			out, err = Outcome{}, fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	return d.opts.Reconciler.Reconcile(ctx, req)
}

// classify sorts a run's end into one of the results.
func classify(ctx context.Context, out Outcome, err error) string {
	switch {
	case err == nil:
		return resultSuccess
	case ctx.Err() != nil:
		// Stopping: whatever failed, failed because of the stop.
		return resultCanceled
	case errors.Is(err, errPanic):
		return resultFailure
	case IsUnreachable(err):
		return resultUnreachable
	default:
		return resultFailure
	}
}

// observed notes a successful observation of the cluster; the first one
// makes the daemon ready.
func (d *Daemon) observed() {
	d.mu.Lock()
	first := !d.v.observedOnce
	d.v.observedOnce = true
	d.v.observationOK = true
	d.v.lastObserved = time.Now()
	d.mu.Unlock()
	if first {
		d.log.Info("first observation of the cluster succeeded; ready")
		d.notify.Ready()
	}
}

// withSuspensions returns a copy of des whose suspended templates are
// marked, or des itself when none is.
func withSuspensions(des *state.Desired, suspended map[string]string) *state.Desired {
	if len(suspended) == 0 {
		return des
	}
	c := *des
	c.Templates = slices.Clone(des.Templates)
	for i := range c.Templates {
		if why, ok := suspended[c.Templates[i].Name]; ok && !c.Templates[i].Suspended {
			c.Templates[i].Suspended = true
			c.Templates[i].SuspendReason = why
		}
	}
	return &c
}
