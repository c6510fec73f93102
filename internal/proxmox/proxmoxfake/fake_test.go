package proxmoxfake_test

import (
	"context"
	"errors"
	"testing"

	"templated/internal/proxmox/proxmoxfake"
	"templated/internal/proxmox/proxmoxtest"
	"templated/internal/reconcile"
	"templated/internal/state"
)

var _ reconcile.Cluster = (*proxmoxfake.Cluster)(nil)

func TestConformance(t *testing.T) {
	proxmoxtest.Run(t, func(t *testing.T) proxmoxtest.Harness { return proxmoxtest.NewFakeHarness(t) })
}

func TestFuncsInjectFaults(t *testing.T) {
	c := proxmoxfake.New()
	if err := c.Add(proxmoxfake.VM{VMID: 9000, Name: "tpl", Template: true}); err != nil {
		t.Fatal(err)
	}
	boom := &state.TaskError{UPID: "UPID:pve:1:2:3:qmdestroy:9000:root@pam:", ExitStatus: "storage busy"}
	c.SetFuncs(proxmoxfake.Funcs{Delete: func(ctx context.Context, node string, vmid int) error { return boom }})
	err := c.Delete(t.Context(), "pve", 9000)
	var te *state.TaskError
	if !errors.As(err, &te) || te.ExitStatus != "storage busy" {
		t.Fatalf("err = %v", err)
	}
	if _, ok := c.VM(9000); !ok {
		t.Fatal("a failing hook must leave the guest alone")
	}
	c.SetFuncs(proxmoxfake.Funcs{})
	if err := c.Delete(t.Context(), "pve", 9000); err != nil {
		t.Fatal(err)
	}
	if got := c.Calls(); len(got) != 2 || got[0] != "Delete pve 9000" {
		t.Fatalf("calls = %v", got)
	}
}
