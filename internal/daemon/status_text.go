package daemon

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable prints the templates' status as a table for people, with ages
// counted to now.
func (st Status) WriteTable(w io.Writer, now time.Time) error {
	if len(st.Templates) == 0 {
		fmt.Fprintln(w, "no desired state in force")
		return nil
	}
	images, clones, replicas := false, false, false
	for _, t := range st.Templates {
		images = images || len(t.Images) > 0
		clones = clones || t.ClonesCurrent+t.ClonesOutdated > 0
		replicas = replicas || len(t.Replicas) > 0
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "TEMPLATE\tVMID\tRELEASE\tAGE\tLAST RESULT\tNEXT REBUILD\tDRIFT"
	if replicas {
		head = "TEMPLATE\tVMID\tNODE\tRELEASE\tAGE\tLAST RESULT\tNEXT REBUILD\tDRIFT"
	}
	if clones {
		head += "\tCLONES"
	}
	if images {
		head += "\tBUILT FROM"
	}
	fmt.Fprintln(tw, head)
	for _, t := range st.Templates {
		vmid := fmt.Sprint(t.VMID)
		if replicas {
			vmid += "\t" + cmp.Or(t.Node, "-")
		}
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", t.Name, vmid, releaseCell(t), age(t.BuiltAt, now),
			lastResult(t, now), nextRebuild(t.NextRebuild, now), cmp.Or(t.Drift, "-"))
		if clones {
			row += "\t" + cloneCount(t)
		}
		if images {
			row += "\t" + cmp.Or(strings.Join(t.Images, ","), "-")
		}
		fmt.Fprintln(tw, row)
		for _, r := range t.Replicas {
			fmt.Fprintln(tw, replicaRow(r, now, clones, images))
		}
	}
	return tw.Flush()
}

// releaseCell is the release of the template at its VMID, followed by
// the desired one when they differ ("1.0.0→1.1.0": a rebuild pending or
// failed); "-" when neither is known.
func releaseCell(t TemplateStatus) string {
	switch {
	case t.BuiltRelease == "" || t.BuiltRelease == t.Release:
		return cmp.Or(t.Release, "-")
	case t.Release == "":
		return t.BuiltRelease
	}
	return t.BuiltRelease + "→" + t.Release
}

// replicaRow is a replica's line under its template: its VMID and node,
// the release and age of the build it holds, and what the plan does with
// it in the DRIFT column ("keep" shows as "-").
func replicaRow(r ReplicaStatus, now time.Time, clones, images bool) string {
	plan := "-"
	if r.Action != "" && r.Action != "keep" {
		plan = r.Action
		if r.Reason != "" {
			first, _, _ := strings.Cut(r.Reason, "; ")
			plan += ": " + first
		}
	}
	row := fmt.Sprintf("  %s\t%d\t%s\t%s\t%s\t%s\t%s\t%s", r.Name, r.VMID, r.Node, cmp.Or(r.BuiltRelease, "-"), age(r.BuiltAt, now),
		"copy", "-", plan)
	if clones {
		row += "\t"
	}
	if images {
		row += "\t"
	}
	return row
}

// cloneCount is "current/outdated" ("12/3"), "-" when the template has
// no clones.
func cloneCount(t TemplateStatus) string {
	if t.ClonesCurrent+t.ClonesOutdated == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", t.ClonesCurrent, t.ClonesOutdated)
}

// age is the template's age ("-" when unknown).
func age(builtAt, now time.Time) string {
	if builtAt.IsZero() {
		return "-"
	}
	return shortDuration(now.Sub(builtAt))
}

// lastResult is "success 2h ago", "failure 5m ago (suspended)", "none".
func lastResult(t TemplateStatus, now time.Time) string {
	s := cmp.Or(t.LastResult, "-")
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

// WriteText prints the followed remote for people: the revision in force
// and who signed it, the last fetch, and a refused head.
func (g *GitStatus) WriteText(w io.Writer, now time.Time) {
	rev := "no revision accepted yet"
	if g.Revision != "" {
		rev = "revision " + shortCommit(g.Revision)
		if g.Signer != "" {
			rev += " signed by " + g.Signer
		}
		rev += ", fetched " + ago(g.FetchedAt, now)
	}
	fmt.Fprintf(w, "git %s (%s): %s\n", g.URL, g.Ref, rev)
	switch {
	case g.LastFetch.IsZero():
		fmt.Fprintln(w, "last fetch: none yet")
	case g.LastFetchOK:
		fmt.Fprintf(w, "last fetch: ok %s\n", ago(g.LastFetch, now))
	default:
		fmt.Fprintf(w, "last fetch: FAILED %s (%d in a row): %s\n", ago(g.LastFetch, now), g.ConsecutiveFailures, firstLine(g.LastError))
	}
	if r := g.Refused; r != nil {
		fmt.Fprintf(w, "refused %s (%s): %s\n", shortCommit(r.Commit), r.Code, firstLine(r.Detail))
	}
}

// ago is "3m10s ago" ("at an unknown time" for the zero time).
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	return shortDuration(now.Sub(t)) + " ago"
}

func shortCommit(c string) string { return c[:min(len(c), 12)] }

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
