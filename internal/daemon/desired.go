package daemon

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/redact"
	"templated/internal/state"
)

// loadInitial loads the desired file at start. A missing or invalid file
// is rejected like a later bad change, but with no last good state the
// daemon waits (not ready, no run) until a valid file appears.
func (d *Daemon) loadInitial(ctx context.Context) {
	if d.reloadDesired(ctx, true) {
		d.setWaiting()
	}
}

// reloadDesired re-reads the desired file and puts it in force if it is
// valid; an invalid (or missing) one is rejected, logged and recorded once
// per content, and the last good state stays. An unchanged file is not
// re-parsed unless force is set. It reports whether the file was rejected.
func (d *Daemon) reloadDesired(ctx context.Context, force bool) (rejected bool) {
	path := d.opts.DesiredPath
	sum := fileSHA256(path)
	cur := d.desired.Load()
	if !force && cur != nil && sum != "" && sum == cur.SHA256 {
		d.clearRejected()
		return false
	}
	des, err := d.load(path)
	if err != nil {
		// However hostile the file, what its error brings into the log, the
		// ledger and /status is bounded.
		err = redact.BoundError(err, redact.MaxErrorText)
		d.met.reloads.WithLabelValues(resultFailure).Inc()
		if d.rejectedBefore(sum, err) {
			d.log.WithField("sha256", sum).Warn("desired file still invalid")
			return true
		}
		kept := "the last good desired state stays in force"
		if cur == nil {
			kept = "no desired state in force; waiting for a valid file"
		}
		d.log.WithFields(logrus.Fields{"path": path, "sha256": sum}).WithError(err).
			Error("desired file rejected; " + kept)
		if rerr := d.ledger.RecordRejected(ctx, path, sum, err); rerr != nil {
			d.log.WithError(rerr).Error("record rejected desired file")
		}
		d.setRejected(sum, err)
		return true
	}
	d.install(des, sum)
	return false
}

// load calls Options.Load; a panic while parsing a bad file is a
// rejection like any other error, never the end of the daemon.
func (d *Daemon) load(path string) (des *state.Desired, err error) {
	defer func() {
		if p := recover(); p != nil {
			des, err = nil, fmt.Errorf("load %s: parser panicked: %v", path, p)
		}
	}()
	des, err = d.opts.Load(path)
	if err == nil && des == nil {
		err = fmt.Errorf("load %s: no desired state", path)
	}
	return des, err
}

// install puts des in force.
func (d *Daemon) install(des *state.Desired, sum string) {
	if des.SHA256 == "" {
		des.SHA256 = sum
	}
	d.desired.Store(des)
	d.met.reloads.WithLabelValues(resultSuccess).Inc()
	d.clearRejected()
	d.mu.Lock()
	d.v.loadedAt = time.Now()
	d.mu.Unlock()
	d.log.WithFields(logrus.Fields{"path": d.opts.DesiredPath, "sha256": des.SHA256, "templates": len(des.Templates)}).
		Info("desired state in force")
}

// reschedule replaces the cron entries with those of des. Called from the
// loop goroutine only.
func (d *Daemon) reschedule(des *state.Desired) {
	stopCron(d.cron)
	d.cron = startCron(des, d.q, d.log)
}

// setWaiting says that no desired state is in force yet.
func (d *Daemon) setWaiting() {
	d.mu.Lock()
	d.v.running = false
	msg := waitingMessage(d.v.rejected)
	d.mu.Unlock()
	d.setPhase(phaseWaiting, msg)
}

// waitingMessage is the status line while no desired state is in force:
// it names the first problem of the rejected file.
func waitingMessage(r *Rejection) string {
	msg := "waiting for a valid desired file"
	if r != nil {
		first, _, _ := strings.Cut(r.Error, "\n")
		msg += ": " + first
	}
	return msg
}
