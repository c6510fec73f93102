package proxmoxtest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"templated/internal/proxmox"
	"templated/internal/state"
)

// Migrator is what both implementations offer for placing a build on
// another node: an offline migration with a target storage.
type Migrator interface {
	Migrate(ctx context.Context, node string, vmid int, target, targetStorage string) error
}

// RunMigrate runs the migration contract tests against fresh harnesses
// from newHarness (one per subtest). Every harness's cluster has the
// nodes Node() and OtherNode, and the images storage local-lvm on both.
func RunMigrate(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"MigrateStoppedVM", testMigrateStoppedVM},
		{"MigrateTemplate", testMigrateTemplate},
		{"MigrateRunning", testMigrateRunning},
		{"MigrateUnknownNode", testMigrateUnknownNode},
		{"MigrateRefusals", testMigrateRefusals},
		{"MigrateLinkedClones", testMigrateLinkedClones},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newHarness(t)) })
	}
}

func migrator(t *testing.T, h Harness) Migrator {
	t.Helper()
	m, ok := h.Cluster().(Migrator)
	if !ok {
		t.Fatalf("%T does not implement Migrate", h.Cluster())
	}
	return m
}

func configOn(t *testing.T, h Harness, node string, vmid int) state.GuestConfig {
	t.Helper()
	gc, err := h.Cluster().GuestConfig(t.Context(), node, vmid)
	if err != nil {
		t.Fatal(err)
	}
	return gc
}

// wantStays fails unless vmid is still on node, unlocked, in the given
// power state.
func wantStays(t *testing.T, h Harness, vmid int, status string) {
	t.Helper()
	if g := mustGuest(t, h, vmid); g.Node != h.Node() || g.Lock != "" || g.Status != status {
		t.Fatalf("a refused migration changed guest %d: %+v", vmid, g)
	}
}

func testMigrateStoppedVM(t *testing.T, h Harness) {
	m, ctx, node := migrator(t, h), t.Context(), h.Node()
	disks := []state.Disk{{Key: "scsi0", Volume: "local-lvm:vm-101-disk-0", SizeGB: 20}, {Key: "virtio1", Volume: "local-lvm:vm-101-disk-1", SizeGB: 0.5}}
	h.AddVM(t, VM{VMID: 101, Name: "web", Tags: []string{"prod"}, Description: "built-by=templated", Cores: 2, MemoryMiB: 1024,
		CloudInit: true, Disks: disks})
	if err := m.Migrate(ctx, node, 101, OtherNode, "local-lvm"); err != nil {
		t.Fatal(err)
	}
	if g := mustGuest(t, h, 101); g.Node != OtherNode || g.Status != "stopped" || g.Lock != "" || g.Template {
		t.Fatalf("after the migration the guest is listed as %+v", g)
	}
	gc := configOn(t, h, OtherNode, 101)
	if !reflect.DeepEqual(gc.Disks, disks) {
		t.Errorf("disks on %s: %+v, want %+v", OtherNode, gc.Disks, disks)
	}
	if gc.Name != "web" || gc.Description != "built-by=templated" || !reflect.DeepEqual(gc.Tags, []string{"prod"}) ||
		gc.Cores != 2 || gc.MemoryMiB != 1024 || !gc.CloudInit || gc.Template || gc.Lock != "" {
		t.Errorf("the config changed in the migration: %+v", gc)
	}
	if ide2 := gc.Raw["ide2"]; !strings.HasPrefix(ide2, "local-lvm:vm-101-cloudinit") {
		t.Errorf("cloud-init drive %q", ide2)
	}
	_, err := h.Cluster().GuestConfig(ctx, node, 101)
	wantKind(t, "config on the source node", err, proxmox.ErrNotFound)
	if err := m.Migrate(ctx, OtherNode, 101, node, "local-lvm"); err != nil {
		t.Fatalf("migrate back: %v", err)
	}
	if g := mustGuest(t, h, 101); g.Node != node {
		t.Fatalf("migrated back, the guest is on %s", g.Node)
	}
}

func testMigrateTemplate(t *testing.T, h Harness) {
	m, ctx, node := migrator(t, h), t.Context(), h.Node()
	seedTemplate(t, h, 9000, "tpl-ubuntu-22.04")
	if err := m.Migrate(ctx, node, 9000, OtherNode, "local-lvm"); err != nil {
		t.Fatal(err)
	}
	if g := mustGuest(t, h, 9000); g.Node != OtherNode || !g.Template || g.Lock != "" {
		t.Fatalf("after the migration the template is listed as %+v", g)
	}
	gc := configOn(t, h, OtherNode, 9000)
	if !gc.Template || len(gc.Disks) != 1 || gc.Disks[0].Volume != "local-lvm:base-9000-disk-0" || gc.Disks[0].SizeGB != 32 ||
		gc.Description != "managed-by=templated" || !reflect.DeepEqual(gc.Tags, []string{"golden", "ubuntu"}) {
		t.Errorf("template config on %s: %+v", OtherNode, gc)
	}
	if err := h.Cluster().Clone(ctx, OtherNode, 9000, 9100, "from-replica"); err != nil {
		t.Fatalf("clone the migrated template on %s: %v", OtherNode, err)
	}
	if g := mustGuest(t, h, 9100); g.Node != OtherNode || g.Template {
		t.Errorf("clone of the migrated template: %+v", g)
	}
}

func testMigrateRunning(t *testing.T, h Harness) {
	m, ctx, node := migrator(t, h), t.Context(), h.Node()
	h.AddVM(t, VM{VMID: 101, Name: "web", Running: true})
	err := m.Migrate(ctx, node, 101, OtherNode, "local-lvm")
	wantKind(t, "running VM", err, proxmox.ErrConflict)
	if err != nil && !strings.Contains(err.Error(), "can't migrate running VM without --online") {
		t.Errorf("err = %v, want PVE's message", err)
	}
	wantStays(t, h, 101, "running")
}

func testMigrateUnknownNode(t *testing.T, h Harness) {
	m, ctx, node := migrator(t, h), t.Context(), h.Node()
	h.AddVM(t, VM{VMID: 101, Name: "web"})
	err := m.Migrate(ctx, node, 101, "pve9", "local-lvm")
	wantKind(t, "unknown node", err, proxmox.ErrInvalid)
	if err != nil && !strings.Contains(err.Error(), "no such cluster node 'pve9'") {
		t.Errorf("err = %v, want PVE's message", err)
	}
	wantKind(t, "invalid node name", m.Migrate(ctx, node, 101, "pve_9", "local-lvm"), proxmox.ErrInvalid)
	wantStays(t, h, 101, "stopped")
}

func testMigrateRefusals(t *testing.T, h Harness) {
	m, ctx, node := migrator(t, h), t.Context(), h.Node()
	h.AddVM(t, VM{VMID: 101, Name: "web"})
	h.AddVM(t, VM{VMID: 102, Name: "backed-up", Lock: "backup"})
	h.AddVM(t, VM{VMID: 103, Name: "elsewhere", Node: OtherNode})
	wantKind(t, "target is the source", m.Migrate(ctx, node, 101, node, "local-lvm"), proxmox.ErrInvalid)
	wantKind(t, "invalid storage", m.Migrate(ctx, node, 101, OtherNode, "local-lvm,x"), proxmox.ErrInvalid)
	wantKind(t, "locked VM", m.Migrate(ctx, node, 102, OtherNode, "local-lvm"), proxmox.ErrLocked)
	wantKind(t, "missing VM", m.Migrate(ctx, node, 4242, OtherNode, "local-lvm"), proxmox.ErrNotFound)
	wantKind(t, "VM on another node", m.Migrate(ctx, node, 103, OtherNode, "local-lvm"), proxmox.ErrNotFound)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	wantKind(t, "canceled", m.Migrate(canceled, node, 101, OtherNode, "local-lvm"), context.Canceled)
	wantStays(t, h, 101, "stopped")
	if g := mustGuest(t, h, 102); g.Node != node || g.Lock != "backup" {
		t.Fatalf("the locked VM changed: %+v", g)
	}
}

// testMigrateLinkedClones: a template whose base volume a linked clone
// uses stays (volume_is_base_and_used, on every storage type). Whether
// the linked clone itself may move depends on the storage type (LVM-thin
// copies it whole; directories and ZFS refuse), so it is not part of the
// contract.
func testMigrateLinkedClones(t *testing.T, h Harness) {
	m, ctx, node := migrator(t, h), t.Context(), h.Node()
	seedTemplate(t, h, 9000, "tpl")
	h.AddLinkedClone(t, 9000, 120, "linked")
	err := m.Migrate(ctx, node, 9000, OtherNode, "local-lvm")
	wantKind(t, "template with a linked clone", err, proxmox.ErrConflict)
	if err != nil && (!strings.Contains(err.Error(), "migration aborted") ||
		!strings.Contains(err.Error(), "can't migrate local disk 'local-lvm:base-9000-disk-0': referenced by linked clone(s)")) {
		t.Errorf("err = %v, want the exit status and the reason from the task log", err)
	}
	var te *state.TaskError
	if !errors.As(err, &te) || te.ExitStatus != "migration aborted" {
		t.Errorf("err = %v, want a *state.TaskError with exit status %q", err, "migration aborted")
	}
	wantStays(t, h, 9000, "stopped")
	wantStays(t, h, 120, "stopped")
}
