package ancestry

import (
	"testing"
	"time"

	"templated/internal/state"
)

var now = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func desired() *state.Desired {
	return &state.Desired{
		VMIDs: state.VMIDRanges{Templates: state.Range{First: 9000, Last: 9199}, Staging: state.Range{First: 9900, Last: 9949},
			Previous: state.Range{First: 9950, Last: 9999}, Bases: state.Range{First: 9800, Last: 9899}},
		Templates: []state.Template{{Name: "tpl-ubuntu-24.04", VMID: 9001}, {Name: "tpl-rocky-9", VMID: 9002}},
	}
}

// stamp is the stamp of template's build at builtAt (its name in the
// tags unless legacy: stamps written before the template tag).
func stamp(template, release string, builtAt time.Time, legacy bool) state.Stamp {
	s := state.Stamp{Template: template, Release: release, InputsHash: "ab" + builtAt.Format("0102150405") + "cdef0123456789",
		BuiltAt: builtAt, Role: state.RoleTemplate, Installation: "i1"}
	if legacy {
		s.Template = ""
	}
	return s
}

func guest(vmid int, name, node string, template bool, s *state.Stamp, extra ...string) state.Guest {
	g := state.Guest{VMID: vmid, Name: name, Node: node, Type: "qemu", Template: template}
	if s != nil {
		g.Tags = s.Tags(extra...)
	} else {
		g.Tags = extra
	}
	return g
}

func TestTrace(t *testing.T) {
	cur := stamp("tpl-ubuntu-24.04", "1.1.0", now.Add(-24*time.Hour), false)
	old := stamp("tpl-ubuntu-24.04", "1.0.0", now.Add(-40*24*time.Hour), false)
	older := stamp("tpl-ubuntu-24.04", "0.9.0", now.Add(-100*24*time.Hour), true) // legacy tags, kept as a previous version
	prev := older
	prev.Role = state.RolePrevious
	rocky := stamp("tpl-rocky-9", "1.0.0", now.Add(-3*24*time.Hour), false)
	staging := cur
	staging.Role = state.RoleStaging
	base := state.Stamp{Template: "base-ubuntu-24.04-cloud-3f1c2e44a1b2", Role: state.RoleBase, BuiltAt: now.Add(-50 * 24 * time.Hour)}
	gone := stamp("tpl-gone", "1.0.0", now.Add(-5*24*time.Hour), false)
	guests := []state.Guest{
		guest(9001, "tpl-ubuntu-24.04", "pve1", true, &cur),
		guest(9002, "tpl-rocky-9", "pve1", true, &rocky),
		guest(9951, "tpl-ubuntu-24.04", "pve1", true, &prev),
		guest(9800, "base-ubuntu-24.04-cloud-3f1c2e44a1b2", "pve1", true, &base),
		guest(9900, "tpl-ubuntu-24.04-staging-9900-1a2b3c4d", "pve1", false, &staging), // a build in flight
		guest(101, "rke2-a", "pve1", false, &cur),
		guest(102, "rke2-b", "pve2", false, &cur, "k8s"), // tags edited, stamp kept
		guest(103, "rke2-c", "pve3", false, &old),
		guest(104, "rke2-d", "pve2", false, &older),     // legacy tags: named through the kept previous version
		guest(105, "rke2-e", "pve1", false, nil, "k8s"), // stamp edited away, a linked clone
		guest(106, "db-1", "pve1", false, &rocky),
		guest(107, "orphan", "pve1", false, &gone), // a template no longer desired
		guest(108, "plain", "pve1", false, nil),
		guest(109, "clone-of-base", "pve1", false, &base), // bases are not templates people clone from
	}
	ls := Trace(desired(), guests, map[int][]int{9001: {105, 101}}, now)
	if len(ls) != 2 {
		t.Fatalf("lineages %+v", ls)
	}
	u, r := ls[0], ls[1]
	if u.Current == nil || !u.Current.BuiltAt.Equal(cur.BuiltAt) || u.Current.Release != "1.1.0" {
		t.Fatalf("current build %+v", u.Current)
	}
	if ids := vmids(u.Clones); len(ids) != 2 || ids[0] != 101 || ids[1] != 102 {
		t.Errorf("clones of the current build: %v", ids)
	}
	if !u.Clones[0].Linked || u.Clones[1].Linked {
		t.Errorf("linked flags %+v", u.Clones)
	}
	if ids := vmids(u.Outdated); len(ids) != 2 || ids[0] != 104 || ids[1] != 103 {
		t.Fatalf("outdated, oldest first: %v", ids)
	}
	o := u.Outdated[0]
	if o.Build.Release != "0.9.0" || o.Build.Template != "tpl-ubuntu-24.04" || o.Behind != 99*24*time.Hour || o.Age != 100*24*time.Hour {
		t.Errorf("legacy outdated clone %+v", o)
	}
	if ids := vmids(u.Unstamped); len(ids) != 1 || ids[0] != 105 {
		t.Errorf("unstamped: %v", ids)
	}
	if ids := vmids(r.Clones); len(ids) != 1 || ids[0] != 106 || len(r.Outdated) != 0 {
		t.Errorf("rocky: %+v", r)
	}
}

// TestTraceWithoutTemplate: clones of a template whose reserved VMID is
// empty are all outdated, nothing behind a build that is not there.
func TestTraceWithoutTemplate(t *testing.T) {
	s := stamp("tpl-ubuntu-24.04", "1.0.0", now.Add(-time.Hour), false)
	ls := Trace(desired(), []state.Guest{guest(101, "a", "pve1", false, &s)}, nil, now)
	if ls[0].Current != nil || len(ls[0].Outdated) != 1 || ls[0].Outdated[0].Behind != 0 {
		t.Fatalf("%+v", ls[0])
	}
}

func vmids(cs []Clone) []int {
	var out []int
	for _, c := range cs {
		out = append(out, c.VMID)
	}
	return out
}
