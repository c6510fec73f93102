package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"templated/internal/daemon"
	"templated/internal/ledger"
	"templated/internal/plan"
	"templated/internal/state"
)

func init() {
	register("status", "per template: VMID, release, age, last result, next rebuild, drift (from the daemon or Proxmox)", runStatus)
}

// Sources of a status report.
const (
	sourceDaemon  = "daemon"
	sourceProxmox = "proxmox"
)

// statusReport is what `templated status --json` prints: the daemon's
// /status document, and where it came from. From Proxmox (--direct, or no
// daemon answered) only the desired file and the templates are filled.
type statusReport struct {
	// Source is daemon or proxmox.
	Source string `json:"source"`
	// Listen is the daemon address that was asked ("" with --direct).
	Listen string `json:"listen,omitempty"`
	// Note says why the report comes straight from Proxmox.
	Note string `json:"note,omitempty"`
	daemon.Status
}

func runStatus(ctx context.Context, env *cmdEnv, args []string) error {
	var c common
	fs := newFlagSet("status", env.Stderr)
	c.register(fs, env)
	listen := fs.String("listen", orDefault(env.Getenv("TEMPLATED_LISTEN"), "127.0.0.1:9750"), "`address` of the running daemon's listener")
	direct := fs.Bool("direct", false, "ask Proxmox directly instead of the running daemon")
	asJSON := fs.Bool("json", false, "print JSON (the daemon's /status document with source, listen and note)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("status: unexpected argument %q", fs.Arg(0))}
	}
	rep, err := c.status(ctx, *listen, *direct)
	if err != nil {
		return err
	}
	fillFromLedger(&rep.Status, c.evidence)
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	now := rep.Now // the daemon's clock, for ages that agree with its own
	if now.IsZero() {
		now = time.Now()
	}
	return writeStatus(env.Stdout, rep, now)
}

// status asks the daemon on listen, or Proxmox when direct is set or no
// daemon answers.
func (c *common) status(ctx context.Context, listen string, direct bool) (statusReport, error) {
	note := "--direct"
	if !direct && listen != "" {
		fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		st, err := daemon.FetchStatus(fctx, listen)
		cancel()
		if err == nil {
			return statusReport{Source: sourceDaemon, Listen: listen, Status: st}, nil
		}
		note = fmt.Sprintf("no daemon answered on %s (%v)", listen, err)
	}
	p, s, err := c.plan(ctx, "")
	if err != nil {
		return statusReport{}, err
	}
	susp, err := daemon.Suspensions(c.stateDir)
	if err != nil {
		note += fmt.Sprintf("; suspensions unreadable: %v", err)
	}
	rep := statusReport{Source: sourceProxmox, Note: note, Status: directStatus(s.desired, p, susp, time.Now())}
	if !direct {
		rep.Listen = listen
	}
	return rep, nil
}

// directStatus builds the templates' status from a plan of the cluster as
// it is now.
func directStatus(d *state.Desired, p plan.Plan, susp map[string]daemon.Suspension, now time.Time) daemon.Status {
	st := daemon.Status{Version: daemon.StatusVersion, Now: now, Templates: []daemon.TemplateStatus{},
		Desired: daemon.DesiredStatus{Path: d.Path, SHA256: d.SHA256}}
	for _, a := range p.Actions {
		t, ok := d.Template(a.Template)
		if !ok {
			continue
		}
		ts := daemon.TemplateStatus{Name: a.Template, VMID: a.VMID, Release: a.Release, Action: string(a.Kind),
			Reason: reasonMessages(a), Drift: drift(a), LastResult: string(daemon.BuildNone)}
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

// fillFromLedger gives templates without a known last build (the daemon
// restarted, or the report comes from Proxmox) the last build.finished
// entry of the ledger under dir. An unreadable ledger changes nothing.
func fillFromLedger(st *daemon.Status, dir string) {
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

// writeStatus prints the report as a table for people.
func writeStatus(w io.Writer, rep statusReport, now time.Time) error {
	switch rep.Source {
	case sourceDaemon:
		fmt.Fprintf(w, "daemon on %s: %s\n", rep.Listen, rep.Message)
		if r := rep.Desired.Rejected; r != nil {
			first, _, _ := strings.Cut(r.Error, "\n")
			fmt.Fprintf(w, "desired file rejected: %s\n", first)
		}
	default:
		fmt.Fprintf(w, "from Proxmox: %s\n", rep.Note)
	}
	if len(rep.Templates) == 0 {
		fmt.Fprintln(w, "no desired state in force")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TEMPLATE\tVMID\tRELEASE\tAGE\tLAST RESULT\tNEXT REBUILD\tDRIFT")
	for _, t := range rep.Templates {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.VMID, orDash(t.Release), age(t.BuiltAt, now),
			lastResult(t, now), nextRebuild(t.NextRebuild, now), orDash(t.Drift))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// age is the template's age ("-" when unknown).
func age(builtAt, now time.Time) string {
	if builtAt.IsZero() {
		return "-"
	}
	return shortDuration(now.Sub(builtAt))
}

// lastResult is "success 2h ago", "failure 5m ago (suspended)", "none".
func lastResult(t daemon.TemplateStatus, now time.Time) string {
	s := orDash(t.LastResult)
	if !t.LastBuildAt.IsZero() {
		s += " " + shortDuration(now.Sub(t.LastBuildAt)) + " ago"
	}
	if t.Suspended {
		s += " (suspended)"
	}
	return s
}

// nextRebuild is "2026-12-01 03:00 UTC (in 4d2h)", "due" or "-".
func nextRebuild(at, now time.Time) string {
	switch {
	case at.IsZero():
		return "-"
	case !at.After(now):
		return "due now"
	}
	return fmt.Sprintf("%s (in %s)", at.UTC().Format("2006-01-02 15:04 MST"), shortDuration(at.Sub(now)))
}

// shortDuration rounds d to two units: 3d4h, 2h5m, 4m10s, 12s.
func shortDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	days := int(d / (24 * time.Hour))
	h := int(d/time.Hour) % 24
	m := int(d/time.Minute) % 60
	s := int(d/time.Second) % 60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd%dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
