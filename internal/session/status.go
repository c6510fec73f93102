package session

import (
	"time"

	"templated/internal/daemon"
	"templated/internal/ledger"
	"templated/internal/plan"
	"templated/internal/state"
)

// DirectStatus builds the templates' status from a plan of the cluster as
// it is now, for when no daemon answers.
func DirectStatus(d *state.Desired, p plan.Plan, susp map[string]daemon.Suspension, now time.Time) daemon.Status {
	st := daemon.Status{Version: daemon.StatusVersion, Now: now, Templates: []daemon.TemplateStatus{},
		Desired: daemon.DesiredStatus{Path: d.Path, SHA256: d.SHA256}}
	for _, a := range p.Actions {
		t, ok := d.Template(a.Template)
		if !ok {
			continue
		}
		ts := daemon.TemplateStatus{Name: a.Template, VMID: a.VMID, Release: a.Release, Action: string(a.Kind),
			Reason: ReasonMessages(a), Drift: Drift(a), LastResult: string(daemon.BuildNone)}
		if a.Current != nil && a.Current.BuiltAt != nil {
			ts.BuiltAt = *a.Current.BuiltAt
			ts.AgeSeconds = now.Sub(ts.BuiltAt).Seconds()
		}
		ts.NextRebuild = daemon.NextRebuild(t, ts.BuiltAt, now)
		if e, ok := susp[a.Template]; ok {
			ts.Suspended, ts.SuspendReason, ts.ConsecutiveFailedBuilds = e.Suspended, e.Reason, e.Failures
		}
		st.Templates = append(st.Templates, ts)
	}
	return st
}

// FillFromLedger gives templates without a known last build (the daemon
// restarted, or the status comes from Proxmox) the last build.finished
// entry of the ledger under dir. An unreadable ledger changes nothing.
func FillFromLedger(st *daemon.Status, dir string) {
	entries, _ := ledger.ReadEntries(dir) // entries before a bad line still count
	last := map[string]ledger.Entry{}
	for _, e := range entries {
		if e.Kind == ledger.KindBuildFinished {
			last[e.Template] = e
		}
	}
	for i := range st.Templates {
		ts := &st.Templates[i]
		e, ok := last[ts.Name]
		if !ok || ts.LastResult != string(daemon.BuildNone) {
			continue
		}
		ts.LastResult, ts.LastError = e.Result, e.Error
		ts.LastBuildDurationSeconds = float64(e.DurationMS) / 1000
		if at, err := time.Parse(time.RFC3339Nano, e.TS); err == nil {
			ts.LastBuildAt = at
		}
	}
}
