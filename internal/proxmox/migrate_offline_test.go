package proxmox_test

import (
	"errors"
	"strings"
	"testing"

	"templated/internal/proxmox"
	"templated/internal/proxmox/proxmoxtest"
	"templated/internal/state"
)

// TestMigrateOfflineTarget: a target node that is down fails the task;
// the error says why (from the task log) and the VM stays.
func TestMigrateOfflineTarget(t *testing.T) {
	h := migrateSim(t, proxmoxtest.SimOptions{})
	h.AddVM(t, proxmoxtest.VM{VMID: 101, Name: "web"})
	if err := h.Server.Cluster().SetNodeStatus("pve2", "offline"); err != nil {
		t.Fatal(err)
	}
	err := h.Client.Migrate(t.Context(), "pve", 101, "pve2", "local-lvm")
	var te *state.TaskError
	if !errors.Is(err, proxmox.ErrTaskFailed) || !errors.As(err, &te) || te.ExitStatus != "migration aborted" ||
		!strings.HasPrefix(err.Error(), "migrate 101 to pve2: task UPID:pve:") ||
		!strings.HasSuffix(err.Error(), " failed: migration aborted: Can't connect to destination address using public key") {
		t.Fatalf("err = %v", err)
	}
	if g, _ := h.Server.Cluster().Guest(101); g.Node != "pve" {
		t.Fatalf("the VM is on %s", g.Node)
	}
}
