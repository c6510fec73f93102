package daemon

import (
	"fmt"
	"time"
)

// Phases of the daemon, as /status shows them.
const (
	phaseStarting    = "starting"
	phaseWaiting     = "waiting"
	phaseReconciling = "reconciling"
	phaseIdle        = "idle"
	phaseBackoff     = "backoff"
	phaseStopping    = "stopping"
	phaseStopped     = "stopped"
)

// view is what the daemon knows about itself and the templates, for
// /status, /readyz, the metrics and the STATUS= line. Guarded by Daemon.mu.
type view struct {
	phase   string
	message string
	running bool

	observedOnce  bool
	observationOK bool
	lastObserved  time.Time

	lastRun   *RunStatus
	nextRetry time.Time
	loadedAt  time.Time
	rejected  *Rejection
	// audit is the last full check of the ledger (nil before the first).
	audit *AuditResult

	templates   map[string]*templateView
	suspensions map[string]Suspension
}

// templateView is the last word of the runs on one template.
type templateView struct {
	last          TemplateOutcome
	lastBuild     BuildStatus
	lastBuildAt   time.Time
	lastBuildDur  time.Duration
	lastBuildErr  string
	lastBuildID   string
	lastBuildSeen bool
}

func newView() view {
	return view{phase: phaseStarting, message: "starting", templates: map[string]*templateView{}}
}

// setPhase sets the phase and the status line and tells the notifier.
func (d *Daemon) setPhase(phase, message string) {
	d.mu.Lock()
	d.v.phase, d.v.message = phase, message
	d.mu.Unlock()
	d.notify.Status(message)
}

func (d *Daemon) setRunning(t Trigger) {
	d.mu.Lock()
	d.v.running = true
	d.v.nextRetry = time.Time{}
	d.mu.Unlock()
	d.setPhase(phaseReconciling, "reconciling ("+t.String()+")")
}

// setIdle says the daemon waits; note is added to the line ("" for none).
func (d *Daemon) setIdle(note string) {
	d.mu.Lock()
	d.v.running = false
	msg := "idle"
	if note != "" {
		msg += "; " + note
	}
	msg += d.idleDetailsLocked(time.Now())
	d.mu.Unlock()
	d.setPhase(phaseIdle, msg)
}

func (d *Daemon) setBackoff(wait time.Duration) {
	d.mu.Lock()
	d.v.running = false
	d.v.observationOK = false
	d.v.nextRetry = time.Now().Add(wait)
	d.mu.Unlock()
	d.setPhase(phaseBackoff, fmt.Sprintf("Proxmox unreachable; retry in %s", wait.Round(time.Second)))
}

// idleDetailsLocked names the next patch rebuild, the suspended templates
// and a rejected desired file.
func (d *Daemon) idleDetailsLocked(now time.Time) string {
	s := ""
	if des := d.desired.Load(); des != nil {
		var name string
		var next time.Time
		for _, t := range des.Templates {
			if sch := schedule(t); sch != nil {
				if n := sch.Next(now); next.IsZero() || n.Before(next) {
					name, next = t.Name, n
				}
			}
		}
		if name != "" {
			s += fmt.Sprintf("; next patch rebuild %s at %s", name, next.Format("2006-01-02 15:04 MST"))
		}
	}
	n := 0
	for _, e := range d.v.suspensions {
		if e.Suspended {
			n++
		}
	}
	if n > 0 {
		s += fmt.Sprintf("; %d template(s) suspended", n)
	}
	if r := d.v.rejected; r != nil {
		s += fmt.Sprintf("; desired file rejected (sha256 %.12s), last good in force", r.SHA256)
	}
	return s
}

func (d *Daemon) finishRun(t Trigger, start time.Time, dur time.Duration, result string, err error, out Outcome) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.v.running = false
	rs := &RunStatus{Trigger: t.String(), Started: start, DurationSeconds: dur.Seconds(), Result: result}
	if err != nil {
		rs.Error = err.Error()
	}
	d.v.lastRun = rs
	if !out.Observed && result != resultCanceled {
		d.v.observationOK = false
	}
	for _, o := range out.Templates {
		tv := d.v.templates[o.Name]
		if tv == nil {
			tv = &templateView{}
			d.v.templates[o.Name] = tv
		}
		tv.last = o
		if o.Build == BuildSuccess || o.Build == BuildFailure {
			tv.lastBuild, tv.lastBuildAt, tv.lastBuildDur, tv.lastBuildErr = o.Build, time.Now(), o.Duration, o.Error
			tv.lastBuildID = o.BuildID
			tv.lastBuildSeen = true
		}
	}
}

func (d *Daemon) setRejected(sum string, err error) {
	d.mu.Lock()
	d.v.rejected = &Rejection{SHA256: sum, Error: err.Error(), At: time.Now()}
	d.mu.Unlock()
}

func (d *Daemon) clearRejected() {
	d.mu.Lock()
	d.v.rejected = nil
	d.mu.Unlock()
}

// rejectedBefore reports whether the content with sum is the one already
// rejected (so it is not logged and recorded again). A file that cannot be
// read (sum "") is the same rejection while the error is.
func (d *Daemon) rejectedBefore(sum string, err error) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.v.rejected
	return r != nil && r.SHA256 == sum && (sum != "" || r.Error == err.Error())
}

// ready reports whether /readyz answers 200: the cluster was observed, the
// last observation succeeded, and it is recent or a run is in flight.
func (d *Daemon) ready(now time.Time) (bool, string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.v.phase == phaseWaiting:
		return false, waitingMessage(d.v.rejected)
	case !d.v.observedOnce:
		return false, "the cluster has not been observed yet"
	case !d.v.observationOK:
		return false, "the last observation of the cluster failed"
	case !d.v.running && now.Sub(d.v.lastObserved) > d.opts.ReadyStale:
		return false, fmt.Sprintf("the last observation is older than %s", d.opts.ReadyStale)
	case d.v.audit != nil && !d.v.audit.Intact:
		return false, fmt.Sprintf("the evidence ledger failed its full check (%s): %s", d.v.audit.Status, d.v.audit.First)
	}
	return true, "ready"
}
