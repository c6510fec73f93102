package session

import (
	"context"
	"fmt"
	"time"

	"templated/internal/daemon"
	"templated/internal/ledger"
	"templated/internal/plan"
	"templated/internal/state"
)

// Sources of a status report.
const (
	SourceDaemon  = "daemon"
	SourceProxmox = "proxmox"
)

// StatusReport is what `templated status --json` prints: the daemon's
// /status document, and where it came from. From Proxmox (--direct, or no
// daemon answered) only the desired file and the templates are filled.
type StatusReport struct {
	// Source is daemon or proxmox.
	Source string `json:"source"`
	// Listen is the daemon address that was asked ("" with --direct).
	Listen string `json:"listen,omitempty"`
	// Note says why the report comes straight from Proxmox.
	Note string `json:"note,omitempty"`
	daemon.Status
}

// StatusQuery says where Status looks.
type StatusQuery struct {
	// Listen is the daemon's listener; Direct skips it.
	Listen string
	Direct bool
	// StateDir holds the daemon's suspensions, EvidenceDir the ledger
	// whose last builds fill what the daemon does not know.
	StateDir    string
	EvidenceDir string
	// Plan observes the cluster and plans, for a status from Proxmox.
	Plan func(ctx context.Context) (plan.Plan, *state.Desired, error)
}

// Status asks the daemon on q.Listen, or Proxmox when q.Direct is set or
// no daemon answers; templates without a known last build get the
// ledger's.
func Status(ctx context.Context, q StatusQuery) (StatusReport, error) {
	rep, err := status(ctx, q)
	if err == nil {
		FillFromLedger(&rep.Status, q.EvidenceDir)
	}
	return rep, err
}

func status(ctx context.Context, q StatusQuery) (StatusReport, error) {
	listen, direct := q.Listen, q.Direct
	note := "--direct"
	if !direct && listen != "" {
		fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		st, err := daemon.FetchStatus(fctx, listen)
		cancel()
		if err == nil {
			return StatusReport{Source: SourceDaemon, Listen: listen, Status: st}, nil
		}
		note = fmt.Sprintf("no daemon answered on %s (%v)", listen, err)
	}
	p, d, err := q.Plan(ctx)
	if err != nil {
		return StatusReport{}, err
	}
	susp, err := daemon.Suspensions(q.StateDir)
	if err != nil {
		note += fmt.Sprintf("; suspensions unreadable: %v", err)
	}
	rep := StatusReport{Source: SourceProxmox, Note: note, Status: DirectStatus(d, p, susp, time.Now())}
	if !direct {
		rep.Listen = listen
	}
	return rep, nil
}

// DirectStatus builds the templates' status from a plan of the cluster as
// it is now, for when no daemon answers.
func DirectStatus(d *state.Desired, p plan.Plan, susp map[string]daemon.Suspension, now time.Time) daemon.Status {
	st := daemon.Status{Version: daemon.StatusVersion, Now: now, Templates: []daemon.TemplateStatus{},
		Desired: daemon.DesiredStatus{Path: d.Path, SHA256: d.SHA256}}
	replicas := map[string]plan.Action{}
	for _, a := range p.Actions {
		if a.ReplicaOf != "" {
			replicas[a.Template] = a
		}
	}
	for _, a := range p.Actions {
		t, ok := d.Template(a.Template)
		if !ok {
			continue
		}
		ts := daemon.TemplateStatus{Name: a.Template, VMID: a.VMID, Release: a.Release, Action: string(a.Kind),
			Reason: ReasonMessages(a), Drift: Drift(a), LastResult: string(daemon.BuildNone), Images: BuiltFrom(a)}
		ts.SetPlacement(t)
		for i, r := range ts.Replicas {
			if ra, ok := replicas[r.Name]; ok {
				ts.Replicas[i].Action, ts.Replicas[i].Reason = string(ra.Kind), ReasonMessages(ra)
				if ra.Current != nil && ra.Current.BuiltAt != nil {
					ts.Replicas[i].BuiltRelease, ts.Replicas[i].BuiltAt = ra.Current.Release, *ra.Current.BuiltAt
				}
			}
		}
		if a.Current != nil && a.Current.BuiltAt != nil {
			ts.BuiltAt, ts.BuiltRelease = *a.Current.BuiltAt, a.Current.Release
			ts.AgeSeconds = now.Sub(ts.BuiltAt).Seconds()
		}
		ts.NextRebuild = daemon.NextRebuild(t, ts.BuiltAt, now)
		ts.SetClones(CloneCounts(a))
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
		ts.LastResult, ts.LastError, ts.LastBuildID = e.Result, e.Error, e.BuildID
		ts.LastBuildDurationSeconds = float64(e.DurationMS) / 1000
		if at, err := time.Parse(time.RFC3339Nano, e.TS); err == nil {
			ts.LastBuildAt = at
		}
	}
}
