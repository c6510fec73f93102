package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"templated/internal/state"
)

// replicaStamp reads the stamp of the template at vmid and checks it is
// on node, named name.
func (h *harness) replicaStamp(t *testing.T, vmid int, node, name string) state.Stamp {
	t.Helper()
	v, ok := h.c.VM(vmid)
	if !ok {
		t.Fatalf("VMID %d is empty", vmid)
	}
	s, owned := state.StampFromDescription(v.Description)
	if !v.Template || v.Node != node || v.Name != name || !owned || s.Role != state.RoleTemplate || s.Template != name {
		t.Fatalf("VMID %d holds %+v (stamp %+v), want template %s on %s", vmid, v, s, name, node)
	}
	return s
}

// TestReplicasFollowTheirTemplate: a template with replicas on two other
// nodes is built once; each replica is a copy of that build (same build
// id, inputs and time) on its node, and a rebuild replaces all three,
// keeping a previous version of each on its node.
func TestReplicasFollowTheirTemplate(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"))
	withReplicas(h.d)
	h.c.SetNodes("pve1", "pve2", "pve3")
	h.e.Installation = "inst1"
	rep := h.apply(t, inputs("tpl-ubuntu-22.04"))
	if f := rep.Failed(); len(f) != 0 || len(rep.Results) != 3 {
		t.Fatalf("results %+v", rep.Results)
	}
	if h.b.builds.Load() != 1 {
		t.Fatalf("%d Packer builds, want 1 (replicas are copies)", h.b.builds.Load())
	}
	s := h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.0.0")
	for _, r := range h.d.Templates[0].Replicas {
		rs := h.replicaStamp(t, r.VMID, r.Node, r.Name)
		if rs.BuildID != s.BuildID || rs.InputsHash != s.InputsHash || !rs.BuiltAt.Equal(s.BuiltAt) {
			t.Fatalf("replica %s: stamp %+v, template's %+v", r.Name, rs, s)
		}
	}
	h.assertClean(t)
	guests, _ := h.c.ListGuests(context.Background())
	if p := Plan(h.d, state.Observed{Guests: guests, Inputs: inputs("tpl-ubuntu-22.04")}, now); p.HasChanges() {
		t.Fatalf("plan after apply: %+v", p.Summary)
	}

	// A rebuild: one build, three swaps, a previous version on each node.
	h.d.Templates[0].Release = tmpl("x", 1, "1.1.0").Release
	h.e.Now = func() time.Time { return now.Add(time.Hour) }
	rep = h.apply(t, inputs("tpl-ubuntu-22.04"))
	if f := rep.Failed(); len(f) != 0 || h.b.builds.Load() != 2 {
		t.Fatalf("rebuild: %+v, %d builds", rep.Results, h.b.builds.Load())
	}
	s2 := h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.1.0")
	for _, r := range h.d.Templates[0].Replicas {
		if rs := h.replicaStamp(t, r.VMID, r.Node, r.Name); rs.BuildID != s2.BuildID || rs.Release != "1.1.0" {
			t.Fatalf("replica %s after the rebuild: %+v", r.Name, rs)
		}
		if n := h.previousCount(t, r.Name); n != 1 {
			t.Errorf("replica %s: %d previous versions, want 1", r.Name, n)
		}
	}
	h.assertClean(t)
}

// TestReplicasWaitForAFailedBuild: when the template's build fails, its
// replicas stay as they are and the failure says why.
func TestReplicasWaitForAFailedBuild(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"))
	withReplicas(h.d)
	h.c.SetNodes("pve1", "pve2", "pve3")
	h.b.fail["tpl-ubuntu-22.04"] = errors.New("packer: boom")
	rep := h.apply(t, inputs("tpl-ubuntu-22.04"))
	if len(rep.Failed()) != 3 {
		t.Fatalf("results %+v", rep.Results)
	}
	for _, r := range rep.Results {
		if r.Template != "tpl-ubuntu-22.04" && !strings.Contains(r.Err.Error(), "the build of tpl-ubuntu-22.04 failed") {
			t.Errorf("%s: %v", r.Template, r.Err)
		}
	}
	for _, id := range []int{9000, 9200, 9400} {
		if _, ok := h.c.VM(id); ok {
			t.Errorf("VMID %d was made from a failed build", id)
		}
	}
	h.assertClean(t)
}
