package pvesim

import (
	"net/url"
	"strings"
	"testing"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"
)

func TestCloneSemantics(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	src, _ := srv.Cluster().Guest(8000)
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/clone",
		url.Values{"newid": {"9000"}, "name": {"tpl-ubuntu-22.04"}, "full": {"1"}, "target": {"pve1"}}).(string)
	if !strings.Contains(upid, ":qmclone:8000:") {
		t.Fatalf("clone UPID %q: want type qmclone and the source id", upid)
	}
	// Before the task ends the clone is locked, consistently everywhere.
	var entry map[string]any
	for _, e := range mustOK(t, srv, hc, "GET", "/cluster/resources", url.Values{"type": {"vm"}}).([]any) {
		if m := e.(map[string]any); m["vmid"] == 9000.0 {
			entry = m
		}
	}
	if entry == nil || entry["lock"] != "clone" || entry["name"] != "tpl-ubuntu-22.04" {
		t.Fatalf("resources entry while cloning: %v", entry)
	}
	if c := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/9000/config", nil).(map[string]any); c["lock"] != "clone" {
		t.Fatalf("config while cloning has lock %v", c["lock"])
	}
	if s := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/9000/status/current", nil).(map[string]any); s["lock"] != "clone" {
		t.Fatalf("status/current while cloning has lock %v", s["lock"])
	}
	r := call(t, srv, hc, "POST", "/nodes/pve1/qemu/9000/status/start", nil)
	if exit, _ := waitTask(t, srv, hc, r.data().(string)); exit != "VM is locked (clone)" {
		t.Fatalf("start while cloning: %q", exit)
	}
	if exit, running := waitTask(t, srv, hc, upid); exit != "OK" || !running {
		t.Fatalf("clone task: %q running=%v", exit, running)
	}
	g, _ := srv.Cluster().Guest(9000)
	if g.Lock != "" || g.Template || g.Name != "tpl-ubuntu-22.04" {
		t.Fatalf("clone after task: %+v", g)
	}
	if g.Tags != src.Tags || g.Description != src.Description {
		t.Fatalf("clone did not inherit tags/description: %q %q", g.Tags, g.Description)
	}
	if g.Config["scsi0"] != "local-lvm:vm-9000-disk-0,iothread=1,size=3584M" {
		t.Fatalf("full clone disk %q", g.Config["scsi0"])
	}
	if g.Config["ide2"] != "local-lvm:vm-9000-cloudinit,media=cdrom,size=4M" {
		t.Fatalf("cloud-init drive %q", g.Config["ide2"])
	}
	if g.Config["net0"] == src.Config["net0"] || !strings.HasSuffix(g.Config["net0"], ",bridge=vmbr0,firewall=1") ||
		!strings.HasPrefix(g.Config["net0"], "virtio=BC:24:11:") {
		t.Fatalf("net0 %q (source %q): want a new MAC", g.Config["net0"], src.Config["net0"])
	}
	if g.Config["smbios1"] == src.Config["smbios1"] || g.Config["vmgenid"] == src.Config["vmgenid"] {
		t.Fatal("smbios1 uuid / vmgenid not renewed")
	}
	for _, k := range []string{"cores", "memory", "boot", "agent", "serial0", "ciuser", "ipconfig0"} {
		if g.Config[k] != src.Config[k] {
			t.Errorf("%s = %q, source %q", k, g.Config[k], src.Config[k])
		}
	}
	// Collision.
	r = call(t, srv, hc, "POST", "/nodes/pve1/qemu/8001/clone", url.Values{"newid": {"9000"}})
	if r.Status != 500 || r.Reason != "unable to create VM 9000: config file already exists" {
		t.Fatalf("collision: %d %q", r.Status, r.Reason)
	}
	// Default name and description override.
	upid = mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/8001/clone", url.Values{"newid": {"9001"}, "description": {"fresh  \n"}}).(string)
	waitTask(t, srv, hc, upid)
	if g, _ := srv.Cluster().Guest(9001); g.Name != "Copy-of-VM-base-ubuntu-24.04" || g.Description != "fresh" {
		t.Fatalf("default name / description: %q %q", g.Name, g.Description)
	}
	// Template source defaults to a linked clone: on LVM-thin a thin
	// snapshot with a name of its own (clone_image).
	if g, _ := srv.Cluster().Guest(9001); g.Config["scsi0"] != "local-lvm:vm-9001-disk-0,iothread=1,size=3584M" {
		t.Fatalf("linked clone disk %q", g.Config["scsi0"])
	}
	r = call(t, srv, hc, "POST", "/nodes/pve1/qemu/8001/clone", url.Values{"newid": {"9002"}, "full": {"0"}, "storage": {"local-lvm"}})
	if r.Status != 500 || r.Reason != "parameter 'storage' not allowed for linked clones" {
		t.Fatalf("linked+storage: %d %q", r.Status, r.Reason)
	}
	// A linked clone of a non-template fails the feature check before the
	// fork and leaves nothing.
	r = call(t, srv, hc, "POST", "/nodes/pve1/qemu/100/clone", url.Values{"newid": {"9003"}, "full": {"0"}})
	if r.Status != 500 || r.Reason != "Linked clone feature is not supported for 'local-lvm:vm-100-disk-0' (scsi0)" {
		t.Fatalf("linked clone of a VM: %d %q", r.Status, r.Reason)
	}
	if _, ok := srv.Cluster().Guest(9003); ok {
		t.Fatal("refused clone left a guest")
	}
	r = call(t, srv, hc, "POST", "/nodes/pve1/qemu/4242/clone", url.Values{"newid": {"9004"}})
	if r.Status != 500 || !strings.HasPrefix(r.Reason, "Configuration file 'nodes/pve1/qemu-server/4242.conf'") {
		t.Fatalf("missing source: %d %q", r.Status, r.Reason)
	}
}

func TestCloneFailedTaskRemovesConfig(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	srv.Faults().MustAdd(Fault{Method: "POST", Path: "/nodes/*/qemu/*/clone", TaskExit: "clone failed: out of space"})
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/clone", url.Values{"newid": {"9000"}}).(string)
	if _, ok := srv.Cluster().Guest(9000); !ok {
		t.Fatal("no temporary config while the clone runs")
	}
	if exit, _ := waitTask(t, srv, hc, upid); exit != "clone failed: out of space" {
		t.Fatalf("exit %q", exit)
	}
	if _, ok := srv.Cluster().Guest(9000); ok {
		t.Fatal("failed clone left VM 9000")
	}
}

func TestCloneThroughLibrary(t *testing.T) {
	srv := startSim(t, Options{})
	c := pxClient(t, srv)
	ctx := testCtx(t)
	src, err := c.GetVmRefById(ctx, 8002)
	if err != nil {
		t.Fatal(err)
	}
	id := pxapi.GuestID(9002)
	name := pxapi.GuestName("tpl-rocky-9")
	ref, err := src.CloneQemu(ctx, pxapi.CloneQemuTarget{Full: &pxapi.CloneQemuFull{Node: "pve1", ID: &id, Name: &name}}, c)
	if err != nil {
		t.Fatalf("CloneQemu: %v", err)
	}
	if ref.VmId() != 9002 {
		t.Fatalf("clone ref %v", ref.VmId())
	}
	raw, err := pxapi.NewRawConfigQemuFromApi(ctx, ref, c)
	if err != nil {
		t.Fatalf("read clone config: %v", err)
	}
	if raw.GetName() != name || raw.GetDescription() == "" {
		t.Fatalf("clone config name %q description %q", raw.GetName(), raw.GetDescription())
	}
	guests, err := pxapi.ListGuests(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	var qemu, lxc int
	for _, g := range guests.Get() {
		switch g.Type {
		case pxapi.GuestQemu:
			qemu++
		case pxapi.GuestLxc:
			lxc++
		}
		if g.ID == 9002 && (g.Locked || g.Template || g.Name != name) {
			t.Fatalf("listed clone %+v", g)
		}
	}
	if qemu != 7 || lxc != 2 {
		t.Fatalf("listed %d qemu %d lxc, want 7 and 2", qemu, lxc)
	}
	// Name collision: the library retries only without an ID; with one it fails.
	_, err = src.CloneQemu(ctx, pxapi.CloneQemuTarget{Full: &pxapi.CloneQemuFull{Node: "pve1", ID: &id, Name: &name}}, c)
	if err == nil || !strings.Contains(err.Error(), "config file already exists") {
		t.Fatalf("clone onto an existing id: %v", err)
	}
}
