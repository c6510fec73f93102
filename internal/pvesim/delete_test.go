package pvesim

import (
	"net/url"
	"strings"
	"testing"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"
)

func TestDeleteRules(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	r := call(t, srv, hc, "DELETE", "/nodes/pve1/qemu/100", nil)
	if r.Status != 500 || r.Reason != "VM 100 is running - destroy failed" {
		t.Fatalf("running: %d %q", r.Status, r.Reason)
	}
	c := srv.Cluster()
	if err := c.SetRunning(101, false); err != nil {
		t.Fatal(err)
	}
	if err := c.SetConfig(101, map[string]string{"protection": "1"}); err != nil {
		t.Fatal(err)
	}
	r = call(t, srv, hc, "DELETE", "/nodes/pve1/qemu/101", nil)
	if r.Status != 500 || r.Reason != "can't remove VM 101 - protection mode enabled" {
		t.Fatalf("protected: %d %q", r.Status, r.Reason)
	}
	r = call(t, srv, hc, "DELETE", "/nodes/pve1/qemu/4242", nil)
	if r.Status != 500 || !strings.Contains(r.Reason, "4242.conf' does not exist") {
		t.Fatalf("missing: %d %q", r.Status, r.Reason)
	}
	// A plain stopped VM is deleted by its task, locked "destroyed" meanwhile.
	if err := c.SetRunning(102, false); err != nil {
		t.Fatal(err)
	}
	upid := mustOK(t, srv, hc, "DELETE", "/nodes/pve1/qemu/102", url.Values{"purge": {"1"}}).(string)
	if g, _ := c.Guest(102); g.Lock != "destroyed" {
		t.Fatalf("lock while destroying: %q", g.Lock)
	}
	if exit, _ := waitTask(t, srv, hc, upid); exit != "OK" {
		t.Fatalf("delete: %q", exit)
	}
	if _, ok := c.Guest(102); ok {
		t.Fatal("102 still exists")
	}
}

func TestLinkedCloneBlocksTemplateDelete(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	if err := c.AddLinkedClone(8000, 123, "lc-1"); err != nil {
		t.Fatal(err)
	}
	if g, _ := c.Guest(123); g.Config["scsi0"] != "local-lvm:base-8000-disk-0/vm-123-disk-0,iothread=1,size=3584M" {
		t.Fatalf("linked clone disk %q", g.Config["scsi0"])
	}
	vols := mustOK(t, srv, hc, "GET", "/nodes/pve1/storage/local-lvm/content", url.Values{"vmid": {"123"}}).([]any)
	var found bool
	for _, v := range vols {
		m := v.(map[string]any)
		if m["volid"] == "local-lvm:base-8000-disk-0/vm-123-disk-0" {
			// LVM-thin's list_images reports no parent.
			_, parent := m["parent"]
			found = !parent && m["vmid"] == 123.0 && m["size"] == float64(3584<<20)
		}
	}
	if !found {
		t.Fatalf("storage content for 123: %v", vols)
	}
	upid := mustOK(t, srv, hc, "DELETE", "/nodes/pve1/qemu/8000", nil).(string)
	exit, _ := waitTask(t, srv, hc, upid)
	if exit != "base volume 'local-lvm:base-8000-disk-0' is still in use by linked cloned" {
		t.Fatalf("delete template with linked clone: %q", exit)
	}
	if g, ok := c.Guest(8000); !ok || g.Lock != "" {
		t.Fatalf("template after refused delete: %+v", g)
	}
	upid = mustOK(t, srv, hc, "DELETE", "/nodes/pve1/qemu/123", nil).(string)
	if exit, _ := waitTask(t, srv, hc, upid); exit != "OK" {
		t.Fatalf("delete linked clone: %q", exit)
	}
	upid = mustOK(t, srv, hc, "DELETE", "/nodes/pve1/qemu/8000", nil).(string)
	if exit, _ := waitTask(t, srv, hc, upid); exit != "OK" {
		t.Fatalf("delete template after its clone: %q", exit)
	}
}

func TestDeleteThroughLibrary(t *testing.T) {
	srv := startSim(t, Options{})
	c := pxClient(t, srv)
	ctx := testCtx(t)
	// VmRef.Delete stops a running VM first, then destroys it.
	if err := pxapi.NewVmRef(100).Delete(ctx, c); err != nil {
		t.Fatalf("Delete running VM: %v", err)
	}
	if _, ok := srv.Cluster().Guest(100); ok {
		t.Fatal("VM 100 still exists")
	}
	// DeleteVm does not stop: PVE's message comes through.
	ref, err := c.GetVmRefById(ctx, 101)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteVm(ctx, ref)
	var ae *pxapi.ApiError
	if !asAPIErr(err, &ae) || ae.Code != "500" || ae.Message != "VM 101 is running - destroy failed" {
		t.Fatalf("DeleteVm running: %v", err)
	}
	if err := srv.Cluster().SetConfig(101, map[string]string{"protection": "1"}); err != nil {
		t.Fatal(err)
	}
	err = pxapi.NewVmRef(101).Delete(ctx, c)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "protect") {
		t.Fatalf("Delete protected: %v", err)
	}
}
