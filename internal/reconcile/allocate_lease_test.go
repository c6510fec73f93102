package reconcile

import (
	"strings"
	"testing"

	"templated/internal/proxmox/proxmoxfake"
	"templated/internal/state"
)

func TestAllocateNeverHandsOutTheLeaseVMID(t *testing.T) {
	c := proxmoxfake.New()
	if err := c.Add(proxmoxfake.VM{VMID: 9900, Node: "pve1", Name: "someone"}); err != nil {
		t.Fatal(err)
	}
	r := state.Range{First: 9900, Last: 9903}
	e := &Executor{Cluster: c, LeaseVMID: 9902}
	var got []int
	for range 2 {
		id, err := e.allocate(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	if got[0] != 9901 || got[1] != 9903 {
		t.Fatalf("allocated %v, want [9901 9903]: 9900 is used, 9902 is the lease's", got)
	}
	if id, err := e.allocate(t.Context(), r); err == nil || !strings.Contains(err.Error(), "no free VMID in 9900-9903") {
		t.Fatalf("allocate in a full range = %d, %v; want no free VMID", id, err)
	}
	e.release(9901)
	if id, err := e.allocate(t.Context(), r); err != nil || id != 9901 {
		t.Fatalf("after release allocate = %d, %v; want 9901", id, err)
	}

	noLease := &Executor{Cluster: c}
	if id, err := noLease.allocate(t.Context(), state.Range{First: 9902, Last: 9902}); err != nil || id != 9902 {
		t.Fatalf("without a lease VMID allocate = %d, %v; want 9902", id, err)
	}
}
