package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"templated/internal/atomicfile"
	"templated/internal/state"
)

// release is a suspension that ended.
type release struct{ name, why string }

// prepareSuspensions reads the suspensions before a run, releases those
// whose desired entry changed or that an operator resumed, forgets
// templates no longer desired, and returns the suspended ones (name →
// reason). An unreadable suspensions file is logged and means none.
func (d *Daemon) prepareSuspensions(ctx context.Context, des *state.Desired) map[string]string {
	suspended := map[string]string{}
	var released []release
	var snapshot map[string]Suspension
	err := updateSuspensions(d.opts.StateDir, func(m map[string]*Suspension) error {
		for name, e := range m {
			t, ok := des.Template(name)
			switch {
			case !ok:
				delete(m, name)
			case e.Entry != entryFingerprint(t):
				delete(m, name)
				if e.Suspended {
					released = append(released, release{name, "desired entry changed"})
				}
			case e.Suspended:
				suspended[name] = e.Reason
			}
		}
		snapshot = copySuspensions(m)
		return nil
	})
	if err != nil {
		d.log.WithError(err).Error("suspensions unreadable; treating no template as suspended")
		return suspended
	}
	// Suspended at the end of the last run, gone now without a reason of
	// ours: `templated resume` removed it.
	d.mu.Lock()
	for name, e := range d.v.suspensions {
		if _, still := snapshot[name]; e.Suspended && !still && !releasedHere(released, name) {
			if _, desired := des.Template(name); desired {
				released = append(released, release{name, "resumed by operator"})
			}
		}
	}
	d.v.suspensions = snapshot
	d.mu.Unlock()
	d.recordReleases(ctx, released)
	return suspended
}

// account counts failed builds after a run, suspends templates that reached
// the limit and releases suspended templates whose inputs changed (then
// asks for another run).
func (d *Daemon) account(ctx context.Context, des *state.Desired, out Outcome) {
	var suspended []release
	var released []release
	var snapshot map[string]Suspension
	now := time.Now()
	err := updateSuspensions(d.opts.StateDir, func(m map[string]*Suspension) error {
		for _, o := range out.Templates {
			t, ok := des.Template(o.Name)
			if !ok {
				continue
			}
			e := m[o.Name]
			switch o.Build {
			case BuildSuccess:
				delete(m, o.Name)
			case BuildFailure:
				fp := entryFingerprint(t)
				if e == nil || e.Entry != fp || inputsChanged(e, o) {
					e = &Suspension{Entry: fp}
					m[o.Name] = e
				}
				e.Failures++
				e.LastError = o.Error
				e.Inputs = o.InputsHash
				if !e.Suspended && e.Failures >= d.opts.FailureLimit {
					e.Suspended, e.Since = true, now
					e.Reason = fmt.Sprintf("%d consecutive failed builds; last: %s", e.Failures, o.Error)
					suspended = append(suspended, release{o.Name, e.Reason})
				}
			default:
				if e != nil && e.Suspended && inputsChanged(e, o) {
					delete(m, o.Name)
					released = append(released, release{o.Name, "inputs changed"})
				}
			}
		}
		snapshot = copySuspensions(m)
		return nil
	})
	if err != nil {
		d.log.WithError(err).Error("update suspensions")
		return
	}
	d.mu.Lock()
	d.v.suspensions = snapshot
	d.mu.Unlock()
	d.announceRun(ctx, des, out, suspended, now)
	for _, s := range suspended {
		d.log.WithField("template", s.name).WithField("reason", s.why).Error("template suspended")
		if err := d.ledger.RecordSuspended(ctx, s.name, s.why); err != nil {
			d.log.WithError(err).Error("record suspension")
		}
	}
	d.recordReleases(ctx, released)
	if len(released) > 0 {
		d.q.addReason(ReasonResume)
	}
}

func (d *Daemon) recordReleases(ctx context.Context, released []release) {
	for _, r := range released {
		d.log.WithField("template", r.name).WithField("why", r.why).Info("suspension released")
		if err := d.ledger.RecordReleased(ctx, r.name, r.why); err != nil {
			d.log.WithError(err).Error("record released suspension")
		}
	}
}

// inputsChanged reports whether the run saw other inputs than those the
// failures were counted against (both must be known).
func inputsChanged(e *Suspension, o TemplateOutcome) bool {
	return e.Inputs != "" && o.InputsHash != "" && e.Inputs != o.InputsHash
}

func releasedHere(rs []release, name string) bool {
	for _, r := range rs {
		if r.name == name {
			return true
		}
	}
	return false
}

func copySuspensions(m map[string]*Suspension) map[string]Suspension {
	out := make(map[string]Suspension, len(m))
	for k, v := range m {
		out[k] = *v
	}
	return out
}

// fileSHA256 is the hex sha256 of the file at path ("" if unreadable).
func fileSHA256(path string) string {
	data, _, err := atomicfile.ReadRegular(path, state.MaxFileSize+1)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
