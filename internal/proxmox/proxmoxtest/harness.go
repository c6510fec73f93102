package proxmoxtest

import (
	"testing"

	"templated/internal/proxmox/proxmoxfake"
	"templated/internal/reconcile"
)

// VM is the seed description shared by every harness.
type VM = proxmoxfake.VM

// Harness is one cluster under test plus the back door to set up state
// that the Cluster interface cannot create.
type Harness interface {
	// Cluster is the implementation under test.
	Cluster() reconcile.Cluster
	// Node is the node seeded guests live on (when VM.Node is empty); the
	// cluster also has node OtherNode.
	Node() string
	// AddVM seeds a guest (defaults as proxmoxfake.VM documents).
	AddVM(t testing.TB, vm VM)
	// AddLinkedClone seeds a stopped linked clone of template tpl.
	AddLinkedClone(t testing.TB, tpl, vmid int, name string)
	// SetRunning sets a guest's power state.
	SetRunning(t testing.TB, vmid int, running bool)
	// SetLock sets ("" clears) a guest's config lock.
	SetLock(t testing.TB, vmid int, lock string)
}

type fakeHarness struct{ c *proxmoxfake.Cluster }

// NewFakeHarness returns a Harness over a new proxmoxfake.Cluster.
func NewFakeHarness(t testing.TB) Harness { return fakeHarness{proxmoxfake.New()} }

// Fake returns the fake behind a harness made by NewFakeHarness.
func Fake(h Harness) *proxmoxfake.Cluster { return h.(fakeHarness).c }

func (h fakeHarness) Cluster() reconcile.Cluster { return h.c }
func (h fakeHarness) Node() string               { return "pve" }

func (h fakeHarness) AddVM(t testing.TB, vm VM) {
	t.Helper()
	if err := h.c.Add(vm); err != nil {
		t.Fatal(err)
	}
}

func (h fakeHarness) AddLinkedClone(t testing.TB, tpl, vmid int, name string) {
	t.Helper()
	if err := h.c.AddLinkedClone(tpl, vmid, name); err != nil {
		t.Fatal(err)
	}
}

func (h fakeHarness) SetRunning(t testing.TB, vmid int, running bool) {
	t.Helper()
	if err := h.c.SetRunning(vmid, running); err != nil {
		t.Fatal(err)
	}
}

func (h fakeHarness) SetLock(t testing.TB, vmid int, lock string) {
	t.Helper()
	if err := h.c.SetLock(vmid, lock); err != nil {
		t.Fatal(err)
	}
}
