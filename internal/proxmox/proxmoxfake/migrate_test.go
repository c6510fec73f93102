package proxmoxfake_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"templated/internal/proxmox"
	"templated/internal/proxmox/proxmoxfake"
	"templated/internal/proxmox/proxmoxtest"
	"templated/internal/state"
)

func TestMigrateConformance(t *testing.T) {
	proxmoxtest.RunMigrate(t, func(t *testing.T) proxmoxtest.Harness { return proxmoxtest.NewFakeHarness(t) })
}

// TestMigrateToOtherStorage: every volume the VM owns moves to the
// target storage under its name; other volumes stay.
func TestMigrateToOtherStorage(t *testing.T) {
	c := proxmoxfake.New()
	c.SetNodes("pve1", "pve2", "pve3")
	err := c.Add(proxmoxfake.VM{VMID: 9000, Node: "pve1", Name: "tpl", Template: true, CloudInit: true,
		Extra: map[string]string{"efidisk0": "local-lvm:vm-9000-disk-1,efitype=4m,size=4M", "ide0": "local:iso/virtio.iso,media=cdrom", "serial0": "socket"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Migrate(t.Context(), "pve1", 9000, "pve3", "local-zfs"); err != nil {
		t.Fatal(err)
	}
	v, _ := c.VM(9000)
	want := map[string]string{"efidisk0": "local-zfs:vm-9000-disk-1,efitype=4m,size=4M", "ide0": "local:iso/virtio.iso,media=cdrom",
		"serial0": "socket", "ide2": "local-zfs:vm-9000-cloudinit,media=cdrom"}
	if v.Node != "pve3" || !v.Template || v.Disks[0].Volume != "local-zfs:base-9000-disk-0" || !reflect.DeepEqual(v.Extra, want) {
		t.Fatalf("after the migration: %+v", v)
	}
	if err := c.Migrate(t.Context(), "pve3", 9000, "pve1", ""); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.VM(9000); v.Node != "pve1" || v.Disks[0].Volume != "local-zfs:base-9000-disk-0" {
		t.Fatalf("without a target storage the volumes must keep theirs: %+v", v)
	}
}

// TestMigrateNodes: SetNodes replaces the default nodes; a node holding
// a guest is a node.
func TestMigrateNodes(t *testing.T) {
	c := proxmoxfake.New()
	c.SetNodes("a1", "a2")
	if err := c.Add(proxmoxfake.VM{VMID: 101, Node: "a1"}, proxmoxfake.VM{VMID: 102, Node: "b7"}); err != nil {
		t.Fatal(err)
	}
	err := c.Migrate(t.Context(), "a1", 101, "pve2", "local-lvm")
	if !errors.Is(err, proxmox.ErrInvalid) || err.Error() != "migrate 101 to pve2: Proxmox answered 500: no such cluster node 'pve2'" {
		t.Fatalf("err = %v", err)
	}
	for _, n := range []string{"b7", "a2"} {
		v, _ := c.VM(101)
		if err := c.Migrate(t.Context(), v.Node, 101, n, ""); err != nil {
			t.Fatalf("migrate to %s: %v", n, err)
		}
	}
}

// TestMigrateHook: a hook's error is returned and nothing moves; calls
// are recorded.
func TestMigrateHook(t *testing.T) {
	c := proxmoxfake.New()
	if err := c.Add(proxmoxfake.VM{VMID: 101}); err != nil {
		t.Fatal(err)
	}
	boom := &state.TaskError{UPID: "UPID:pve:1:2:3:qmigrate:101:root@pam:", ExitStatus: "migration aborted"}
	var got []any
	c.SetFuncs(proxmoxfake.Funcs{Migrate: func(ctx context.Context, node string, vmid int, target, storage string) error {
		got = []any{node, vmid, target, storage}
		return boom
	}})
	err := c.Migrate(t.Context(), "pve", 101, "pve2", "local-lvm")
	var te *state.TaskError
	if !errors.As(err, &te) || te != boom || !reflect.DeepEqual(got, []any{"pve", 101, "pve2", "local-lvm"}) {
		t.Fatalf("err = %v, hook saw %v", err, got)
	}
	if v, _ := c.VM(101); v.Node != "pve" {
		t.Fatalf("a failing hook moved the VM to %s", v.Node)
	}
	c.SetFuncs(proxmoxfake.Funcs{})
	if err := c.Migrate(t.Context(), "pve", 101, "pve2", "local-lvm"); err != nil {
		t.Fatal(err)
	}
	if calls := c.Calls(); !reflect.DeepEqual(calls, []string{"Migrate pve 101 pve2 local-lvm", "Migrate pve 101 pve2 local-lvm"}) {
		t.Fatalf("calls = %v", calls)
	}
}

// TestMigrateLinkedClone: the fake's volumes are named as ZFS names
// them, so a linked clone stays as PVE's worker refuses it there.
func TestMigrateLinkedClone(t *testing.T) {
	c := proxmoxfake.New()
	if err := c.Add(proxmoxfake.VM{VMID: 9000, Name: "tpl", Template: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddLinkedClone(9000, 120, "linked"); err != nil {
		t.Fatal(err)
	}
	err := c.Migrate(t.Context(), "pve", 120, "pve2", "local-lvm")
	var te *state.TaskError
	want := "can't migrate 'local-lvm:base-9000-disk-0/vm-120-disk-0' as it's a clone of 'base-9000-disk-0'"
	if !errors.Is(err, proxmox.ErrTaskFailed) || !errors.As(err, &te) || te.ExitStatus != "migration aborted" ||
		!strings.HasSuffix(err.Error(), "failed: migration aborted: Problem found while scanning volumes - "+want) {
		t.Fatalf("err = %v", err)
	}
	if v, _ := c.VM(120); v.Node != "pve" || v.Lock != "" {
		t.Fatalf("the refused linked clone changed: %+v", v)
	}
}
