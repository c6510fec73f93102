package session

import (
	"errors"
	"maps"
	"testing"
	"time"

	"templated/internal/plan"
	"templated/internal/reconcile"
	"templated/internal/state"
)

// TestOutcomeClones: the daemon gets the plan's clone counts with every
// age bucket (zeros included); a template without clones counts zero; a
// successful rebuild makes the clones of the build it replaced outdated.
func TestOutcomeClones(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	built := now.AddDate(0, 0, -40)
	p := plan.Plan{Actions: []plan.Action{
		{Template: "tpl-a", VMID: 9000, Kind: plan.Keep, Current: &plan.Current{BuiltAt: &built},
			Clones: &plan.Clones{Current: 2, Outdated: 3, OutdatedByAge: map[string]int{"90d_365d": 3}}},
		{Template: "tpl-b", VMID: 9001, Kind: plan.Rebuild, Current: &plan.Current{BuiltAt: &built},
			Clones: &plan.Clones{Current: 4, Outdated: 1, OutdatedByAge: map[string]int{"lt_30d": 1}}},
		{Template: "tpl-c", VMID: 9002, Kind: plan.Keep},
	}}
	out := Outcome(p, reconcile.Report{Results: []reconcile.Result{{Template: "tpl-b", Action: plan.Rebuild}}}, now)
	want := []struct {
		current, outdated int
		byAge             map[string]int
	}{
		{2, 3, map[string]int{"lt_30d": 0, "30d_90d": 0, "90d_365d": 3, "gt_365d": 0}},
		{0, 5, map[string]int{"lt_30d": 1, "30d_90d": 4, "90d_365d": 0, "gt_365d": 0}}, // the replaced build is 40 days old
		{0, 0, map[string]int{"lt_30d": 0, "30d_90d": 0, "90d_365d": 0, "gt_365d": 0}},
	}
	for i, w := range want {
		c := out.Templates[i].Clones
		if c == nil || c.Current != w.current || c.Outdated != w.outdated || !maps.Equal(c.OutdatedByAge, w.byAge) {
			t.Errorf("%s: clones %+v, want %+v", out.Templates[i].Name, c, w)
		}
	}

	d := &state.Desired{Templates: []state.Template{{Name: "tpl-a", VMID: 9000}, {Name: "tpl-b", VMID: 9001}, {Name: "tpl-c", VMID: 9002}}}
	st := DirectStatus(d, p, nil, now)
	if a := st.Templates[0]; a.ClonesCurrent != 2 || a.ClonesOutdated != 3 || a.ClonesOutdatedByAge["90d_365d"] != 3 || len(a.ClonesOutdatedByAge) != 4 {
		t.Errorf("direct status tpl-a = %+v", a)
	}
	if b := st.Templates[1]; b.ClonesCurrent != 4 || b.ClonesOutdated != 1 {
		t.Errorf("direct status tpl-b = %+v (a plan alone builds nothing)", b)
	}
}

// TestOutcomeBuiltRelease: the daemon and the direct status know the
// release at the VMID apart from the desired one: a failed rebuild keeps
// the old release there, a successful one puts the desired one.
func TestOutcomeBuiltRelease(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	built := now.AddDate(0, 0, -3)
	p := plan.Plan{Actions: []plan.Action{
		{Template: "tpl-a", VMID: 9000, Kind: plan.Rebuild, Release: "1.1.0", Current: &plan.Current{Release: "1.0.0", BuiltAt: &built}},
		{Template: "tpl-b", VMID: 9001, Kind: plan.Rebuild, Release: "2.1.0", Current: &plan.Current{Release: "2.0.0", BuiltAt: &built}},
		{Template: "tpl-c", VMID: 9002, Kind: plan.Create, Release: "3.0.0"},
	}}
	rep := reconcile.Report{Results: []reconcile.Result{
		{Template: "tpl-a", Action: plan.Rebuild, Err: errors.New("packer exited 1")},
		{Template: "tpl-b", Action: plan.Rebuild}}}
	out := Outcome(p, rep, now)
	for i, want := range [][2]string{{"1.1.0", "1.0.0"}, {"2.1.0", "2.1.0"}, {"3.0.0", ""}} {
		if o := out.Templates[i]; o.Release != want[0] || o.BuiltRelease != want[1] {
			t.Errorf("%s: release %q built %q, want %q and %q", o.Name, o.Release, o.BuiltRelease, want[0], want[1])
		}
	}
	d := &state.Desired{Templates: []state.Template{{Name: "tpl-a", VMID: 9000}, {Name: "tpl-b", VMID: 9001}, {Name: "tpl-c", VMID: 9002}}}
	st := DirectStatus(d, p, nil, now)
	if a := st.Templates[0]; a.Release != "1.1.0" || a.BuiltRelease != "1.0.0" {
		t.Errorf("direct status tpl-a: release %q built %q", a.Release, a.BuiltRelease)
	}
}
