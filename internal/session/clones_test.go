package session

import (
	"context"
	"testing"
)

// TestClonesAcrossARebuild: a VM cloned from a template carries its build;
// after the template is rebuilt (a new vendor image) the clone is listed
// as outdated, one cloned afterwards as current, and neither is touched.
func TestClonesAcrossARebuild(t *testing.T) {
	h := newHarness(t)
	h.set.ImageInterval = -1
	sess := h.open(t)
	h.reconcileOK(t, sess)
	ctx := context.Background()
	if err := h.c.Clone(ctx, "pve1", 9001, 200, "rke2-before"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.mirror.Publish(nobleImg, "20261205"); err != nil {
		t.Fatal(err)
	}
	res := h.reconcileOK(t, sess)
	if !res.Plan.HasChanges() {
		t.Fatal("the new image rebuilt nothing")
	}
	if err := h.c.Clone(ctx, "pve1", 9001, 201, "rke2-after"); err != nil {
		t.Fatal(err)
	}
	ls, err := sess.Clones(ctx, h.d)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Template != "tpl-ubuntu-24.04" {
			if len(l.Clones)+len(l.Outdated) != 0 {
				t.Errorf("%s: %+v", l.Template, l)
			}
			continue
		}
		if len(l.Outdated) != 1 || l.Outdated[0].VMID != 200 || l.Outdated[0].Behind < 0 || len(l.Clones) != 1 || l.Clones[0].VMID != 201 {
			t.Fatalf("lineage %+v", l)
		}
	}
	for _, id := range []int{200, 201} {
		if v, ok := h.c.VM(id); !ok || v.Template {
			t.Errorf("clone %d: %+v", id, v)
		}
	}
	p, err := sess.Plan(ctx, h.d)
	if err != nil || p.HasChanges() {
		t.Fatalf("plan with clones around: %+v %v", p.Summary, err)
	}
	for _, a := range p.Actions {
		if a.Template == "tpl-ubuntu-24.04" && (a.Clones == nil || a.Clones.Current != 1 || a.Clones.Outdated != 1) {
			t.Errorf("plan's clone counts %+v", a.Clones)
		}
	}
}
