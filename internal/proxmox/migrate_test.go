package proxmox_test

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"templated/internal/proxmox"
	"templated/internal/proxmox/proxmoxtest"
	"templated/internal/state"
)

// migrateSim starts a simulator harness, or skips the test while the
// simulator has no migrate route: it answers 501 "Method 'POST …'
// not implemented" for routes it lacks. Remove the probe once pvesim's
// migrate is committed.
func migrateSim(t *testing.T, o proxmoxtest.SimOptions) *proxmoxtest.SimHarness {
	t.Helper()
	h := proxmoxtest.NewSimHarness(t, o)
	err := h.Client.Migrate(t.Context(), "pve", 999999999, "pve2", "")
	var e *proxmox.Error
	if errors.As(err, &e) && e.Status == 501 {
		t.Skip("skipped: the simulator (internal/pvesim) does not implement POST /nodes/{node}/qemu/{vmid}/migrate yet; " +
			"the migration contract runs against proxmoxfake only until it does")
	}
	h.Server.ResetRequests()
	return h
}

func TestMigrateConformanceHTTP(t *testing.T) {
	proxmoxtest.RunMigrate(t, func(t *testing.T) proxmoxtest.Harness {
		return migrateSim(t, proxmoxtest.SimOptions{})
	})
}

func TestMigrateConformanceHTTPS(t *testing.T) {
	proxmoxtest.RunMigrate(t, func(t *testing.T) proxmoxtest.Harness {
		return migrateSim(t, proxmoxtest.SimOptions{TLS: true})
	})
}

// migrateForms are the parameters of every migrate request the simulator
// got.
func migrateForms(h *proxmoxtest.SimHarness) []map[string]string {
	var out []map[string]string
	for _, r := range h.Server.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/migrate") {
			f := map[string]string{"path": r.Path}
			for _, k := range r.FormKeys {
				f[k] = r.Form.Get(k)
			}
			out = append(out, f)
		}
	}
	return out
}

// TestMigrateRequest: target and targetstorage, nothing else (no online,
// no with-local-disks); no targetstorage when none is given.
func TestMigrateRequest(t *testing.T) {
	h := migrateSim(t, proxmoxtest.SimOptions{})
	h.AddVM(t, proxmoxtest.VM{VMID: 101, Name: "web"})
	if err := h.Client.Migrate(t.Context(), "pve", 101, "pve2", "local-lvm"); err != nil {
		t.Fatal(err)
	}
	if err := h.Client.Migrate(t.Context(), "pve2", 101, "pve", ""); err != nil {
		t.Fatal(err)
	}
	got := migrateForms(h)
	want := []map[string]string{
		{"path": "/nodes/pve/qemu/101/migrate", "target": "pve2", "targetstorage": "local-lvm"},
		{"path": "/nodes/pve2/qemu/101/migrate", "target": "pve"},
	}
	if len(got) != 2 || !maps.Equal(got[0], want[0]) || !maps.Equal(got[1], want[1]) {
		t.Fatalf("migrate requests\n got %v\nwant %v", got, want)
	}
}

// TestMigrateCheckedBeforeSending: parameters PVE would refuse are
// refused without a request.
func TestMigrateCheckedBeforeSending(t *testing.T) {
	h := proxmoxtest.NewSimHarness(t, proxmoxtest.SimOptions{})
	h.AddVM(t, proxmoxtest.VM{VMID: 101, Name: "web"})
	for _, tc := range []struct {
		node, target, storage string
		vmid                  int
		want                  string
	}{
		{"pve", "pve", "local-lvm", 101, "target pve is the VM's own node"},
		{"pve", "-pve2", "local-lvm", 101, `invalid target node name "-pve2"`},
		{"pve/x", "pve2", "local-lvm", 101, `invalid node name "pve/x"`},
		{"pve", "pve2", "local-lvm:x", 101, `invalid target storage "local-lvm:x"`},
		{"pve", "pve2", "1", 101, `invalid target storage "1"`},
		{"pve", "pve2", "local-lvm", 99, "VMID 99 out of range"},
	} {
		err := h.Client.Migrate(t.Context(), tc.node, tc.vmid, tc.target, tc.storage)
		if !errors.Is(err, proxmox.ErrInvalid) || !strings.Contains(err.Error(), tc.want) ||
			!strings.HasPrefix(err.Error(), "migrate ") {
			t.Errorf("Migrate(%q, %d, %q, %q) = %v, want ErrInvalid: %s", tc.node, tc.vmid, tc.target, tc.storage, err, tc.want)
		}
	}
	if f := migrateForms(h); len(f) != 0 {
		t.Fatalf("sent %v", f)
	}
}

// TestMigrateTaskTimeout: the wait for the task is bounded by
// Options.TaskTimeout.
func TestMigrateTaskTimeout(t *testing.T) {
	h := migrateSim(t, proxmoxtest.SimOptions{TaskDuration: time.Hour,
		Client: proxmox.Options{TaskTimeout: 50 * time.Millisecond}})
	h.AddVM(t, proxmoxtest.VM{VMID: 101, Name: "web"})
	err := h.Client.Migrate(t.Context(), "pve", 101, "pve2", "local-lvm")
	if !errors.Is(err, proxmox.ErrTimeout) || !strings.HasPrefix(err.Error(), "migrate 101 to pve2: task UPID:pve:") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewMigrateError(t *testing.T) {
	const upid = "UPID:pve:00001234:00000000:00000000:qmigrate:9000:root@pam!t:"
	lines := []string{
		"2026-01-02 03:04:05 starting migration of VM 9000 to node 'pve2' (10.0.0.2)",
		"2026-01-02 03:04:05 found local disk 'local-lvm:base-9000-disk-0' (attached)",
		"2026-01-02 03:04:05 can't migrate local disk 'local-lvm:base-9000-disk-0': referenced by linked clone(s)",
		"2026-01-02 03:04:05 ERROR: Problem found while scanning volumes - can't migrate VM - check log",
		"2026-01-02 03:04:05 aborting phase 1 - cleanup resources",
		"2026-01-02 03:04:05 ERROR: migration aborted (duration 00:00:00): Problem found while scanning volumes - can't migrate VM - check log",
		"TASK ERROR: migration aborted",
	}
	e := proxmox.NewMigrateError(upid, "migration aborted", lines)
	want := "task " + upid + " failed: migration aborted: Problem found while scanning volumes - can't migrate VM - check log; " +
		"can't migrate local disk 'local-lvm:base-9000-disk-0': referenced by linked clone(s)"
	var te *state.TaskError
	if e.Msg != want || !errors.Is(e, proxmox.ErrConflict) || !errors.As(e, &te) || te.UPID != upid {
		t.Fatalf("got %q (%v)\nwant %q", e.Msg, e.Kind, want)
	}
	problems := []string{
		"2026-01-02 03:04:09 ERROR: removing local copy of 'local-lvm:vm-9000-disk-0' failed - lvremove failed",
		"2026-01-02 03:04:09 ERROR: migration finished with problems (duration 00:00:04)",
		"TASK ERROR: migration problems",
	}
	e = proxmox.NewMigrateError(upid, "migration problems", problems)
	if want := "task " + upid + " failed: migration problems: removing local copy of 'local-lvm:vm-9000-disk-0' failed - lvremove failed"; e.Msg != want ||
		!errors.Is(e, proxmox.ErrTaskFailed) {
		t.Fatalf("got %q (%v)\nwant %q", e.Msg, e.Kind, want)
	}
	if e := proxmox.NewMigrateError(upid, "migration aborted", nil); e.Msg != "task "+upid+" failed: migration aborted" {
		t.Fatalf("without a log: %q", e.Msg)
	}
}
