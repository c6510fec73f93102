package pvesim

import (
	"net/url"
	"strings"
	"testing"
)

// cloneAndWait clones from node/vmid and fails the test unless the task
// ends OK.
func cloneAndWait(t *testing.T, srv *Server, node string, vmid int, params url.Values) Task {
	t.Helper()
	hc := httpClient(t, srv)
	upid := mustOK(t, srv, hc, "POST", "/nodes/"+node+"/qemu/"+itoa(vmid)+"/clone", params).(string)
	exit, _ := waitTask(t, srv, hc, upid)
	task, _ := srv.Cluster().Task(upid)
	if exit != "OK" {
		t.Fatalf("clone %d %v: %q\n%s", vmid, params, exit, strings.Join(task.Log, "\n"))
	}
	return task
}

// TestCloneInheritsConfig: clone_vm copies every key but the template
// flag, the lock, snapshot and running state and unused disks; it keeps
// tags, description and meta (a clone of a stamped template carries the
// stamp), renews MACs and the smbios1 uuid (adding one), renews vmgenid
// only where there is one, names a clone of a nameless VM by its VMID and
// takes a description only from a true parameter.
func TestCloneInheritsConfig(t *testing.T) {
	srv := startSim(t, Options{})
	c := srv.Cluster()
	stamp := "managed-by=templated\nspec-sha=0123abcd"
	if err := c.AddGuest(GuestSpec{VMID: 9100, Template: true, Tags: "golden;ubuntu", Description: stamp, Config: map[string]string{
		"cores": "2", "memory": "2048", "scsi0": "local-lvm:base-9100-disk-0,size=8G", "unused0": "local-lvm:vm-9100-disk-3",
		"ide0": "local:iso/virtio-win.iso,media=cdrom", "ide2": "local-lvm:vm-9100-cloudinit,media=cdrom",
		"net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0", "net1": "e1000=BC:24:11:00:00:02,bridge=vmbr1,tag=5",
		"parent": "snap1", "vmstate": "local-lvm:vm-9100-state-snap1", "runningmachine": "pc-i440fx-9.0",
		"runningcpu": "kvm64", "meta": "creation-qemu=9.0.2,ctime=1700000000", "sshkeys": "ssh-ed25519%20AAAA",
	}}); err != nil {
		t.Fatal(err)
	}
	cloneAndWait(t, srv, "pve1", 9100, url.Values{"newid": {"9101"}, "full": {"1"}, "description": {""}})
	src, _ := c.Guest(9100)
	g, _ := c.Guest(9101)
	if g.Tags != "golden;ubuntu" || g.Description != stamp || g.Template || g.Lock != "" {
		t.Fatalf("clone lost the stamp or kept template/lock: %+v", g)
	}
	if g.Name != "Copy-of-VM-9100" {
		t.Errorf("name of a clone of a nameless VM: %q", g.Name)
	}
	for _, k := range []string{"parent", "vmstate", "runningmachine", "runningcpu", "unused0", "template", "lock"} {
		if v, ok := g.Config[k]; ok {
			t.Errorf("clone kept %s = %q", k, v)
		}
	}
	for _, k := range []string{"cores", "memory", "meta", "sshkeys", "ide0"} {
		if g.Config[k] != src.Config[k] {
			t.Errorf("%s = %q, source %q", k, g.Config[k], src.Config[k])
		}
	}
	for _, k := range []string{"net0", "net1"} {
		model, rest, _ := strings.Cut(src.Config[k], "=")
		_, srcOpts, _ := strings.Cut(rest, ",")
		if g.Config[k] == src.Config[k] || !strings.HasPrefix(g.Config[k], model+"=BC:24:11:") || !strings.HasSuffix(g.Config[k], ","+srcOpts) {
			t.Errorf("%s = %q (source %q): want a new MAC, same options", k, g.Config[k], src.Config[k])
		}
	}
	if !strings.HasPrefix(g.Config["smbios1"], "uuid=") {
		t.Errorf("smbios1 = %q: want a generated uuid", g.Config["smbios1"])
	}
	if _, ok := g.Config["vmgenid"]; ok {
		t.Errorf("vmgenid added: %q", g.Config["vmgenid"])
	}
	if g.Config["scsi0"] != "local-lvm:vm-9101-disk-0,size=8G" || g.Config["ide2"] != "local-lvm:vm-9101-cloudinit,media=cdrom,size=4M" {
		t.Errorf("disks %q %q", g.Config["scsi0"], g.Config["ide2"])
	}
	// "0" is false too; a true description replaces the stamp.
	cloneAndWait(t, srv, "pve1", 9100, url.Values{"newid": {"9102"}, "description": {"0"}, "name": {"lc"}})
	if g, _ := c.Guest(9102); g.Description != stamp || g.Name != "lc" {
		t.Errorf("description 0: %q %q", g.Description, g.Name)
	}
	cloneAndWait(t, srv, "pve1", 9100, url.Values{"newid": {"9103"}, "description": {"fresh"}})
	if g, _ := c.Guest(9103); g.Description != "fresh" || g.Tags != "golden;ubuntu" {
		t.Errorf("description override: %q tags %q", g.Description, g.Tags)
	}
}

// linkSeed has a template on each kind of storage that can make linked
// clones: directory, LVM-thin, ZFS and RBD (shared).
func linkSeed() *Seed {
	s := &Seed{Nodes: []NodeSpec{{Name: "pve1"}}, Storages: []StorageSpec{
		{Name: "local", Type: "dir", Content: []string{"iso", "images"}},
		{Name: "local-lvm", Type: "lvmthin", Content: []string{"images"}},
		{Name: "local-zfs", Type: "zfspool", Content: []string{"images"}},
		{Name: "ceph", Type: "rbd", Content: []string{"images"}, Shared: true},
		{Name: "thick", Type: "lvm", Content: []string{"images"}},
	}}
	for vmid, disks := range map[int][2]string{
		9000: {"local:9000/base-9000-disk-0.raw", "local:9000/base-9000-disk-1.qcow2"},
		9001: {"local-lvm:base-9001-disk-0", "local-lvm:base-9001-disk-1"},
		9002: {"local-zfs:base-9002-disk-0", "local-zfs:base-9002-disk-1"},
		9003: {"ceph:base-9003-disk-0", "local-lvm:base-9003-disk-0"},
		9004: {"thick:vm-9004-disk-0", "thick:vm-9004-disk-1"},
	} {
		s.Guests = append(s.Guests, GuestSpec{VMID: vmid, Template: true, Name: "tpl",
			Config: map[string]string{"scsi0": disks[0] + ",size=4G", "scsi1": disks[1] + ",size=2G"}})
	}
	return s
}

// TestLinkedCloneNames: a linked clone's volumes are what each storage
// type's clone_image makes (a qcow2 backed by the base file on a
// directory storage, "base/vm" on ZFS and RBD, a plain thin snapshot on
// LVM-thin), numbered per storage; the storage content shows the parent
// as each plugin's list_images does; LVM (thick) cannot link.
func TestLinkedCloneNames(t *testing.T) {
	srv := startSim(t, Options{Seed: linkSeed()})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	for _, tc := range []struct {
		tpl          int
		scsi0, scsi1 string
		storage      string
		parent       string // of scsi0's volume in the storage content
	}{
		{9000, "local:9000/base-9000-disk-0.raw/123/vm-123-disk-0.qcow2", "local:9000/base-9000-disk-1.qcow2/123/vm-123-disk-1.qcow2", "local", "../9000/base-9000-disk-0.raw"},
		{9001, "local-lvm:vm-123-disk-0", "local-lvm:vm-123-disk-1", "local-lvm", ""},
		{9002, "local-zfs:base-9002-disk-0/vm-123-disk-0", "local-zfs:base-9002-disk-1/vm-123-disk-1", "local-zfs", "base-9002-disk-0@__base__"},
		{9003, "ceph:base-9003-disk-0/vm-123-disk-0", "local-lvm:vm-123-disk-0", "ceph", "base-9003-disk-0@__base__"},
	} {
		cloneAndWait(t, srv, "pve1", tc.tpl, url.Values{"newid": {"123"}, "name": {"lc"}})
		g, _ := c.Guest(123)
		if g.Config["scsi0"] != tc.scsi0+",size=4G" || g.Config["scsi1"] != tc.scsi1+",size=2G" {
			t.Errorf("linked clone of %d: scsi0 %q scsi1 %q", tc.tpl, g.Config["scsi0"], g.Config["scsi1"])
		}
		var found bool
		for _, v := range c.Volumes("pve1", tc.storage) {
			if v.Volid == tc.scsi0 {
				found = true
				if v.Parent != tc.parent || v.VMID != 123 {
					t.Errorf("%s content: %+v, want parent %q", tc.storage, v, tc.parent)
				}
			}
		}
		if !found {
			t.Errorf("%s content lacks %s: %+v", tc.storage, tc.scsi0, c.Volumes("pve1", tc.storage))
		}
		if err := c.RemoveGuest(123); err != nil {
			t.Fatal(err)
		}
	}
	r := call(t, srv, hc, "POST", "/nodes/pve1/qemu/9004/clone", url.Values{"newid": {"124"}})
	if r.Status != 500 || r.Reason != "Linked clone feature is not supported for 'thick:vm-9004-disk-0' (scsi0)" {
		t.Errorf("linked clone on lvm: %d %q", r.Status, r.Reason)
	}
	// A full clone to a directory storage: every drive, cloud-init
	// included, on the target storage, in the source's format or the
	// requested one.
	if err := c.SetConfig(9001, map[string]string{"ide2": "local-lvm:vm-9001-cloudinit,media=cdrom"}); err != nil {
		t.Fatal(err)
	}
	cloneAndWait(t, srv, "pve1", 9001, url.Values{"newid": {"125"}, "full": {"1"}, "storage": {"local"}})
	cloneAndWait(t, srv, "pve1", 9001, url.Values{"newid": {"128"}, "full": {"1"}, "storage": {"local"}, "format": {"qcow2"}})
	for vmid, want := range map[int]map[string]string{
		125: {"scsi0": "local:125/vm-125-disk-0.raw,size=4G", "scsi1": "local:125/vm-125-disk-1.raw,size=2G",
			"ide2": "local:125/vm-125-cloudinit.raw,media=cdrom,size=4M"},
		128: {"scsi0": "local:128/vm-128-disk-0.qcow2,size=4G", "ide2": "local:128/vm-128-cloudinit.qcow2,media=cdrom,size=4M"},
	} {
		g, _ := c.Guest(vmid)
		for k, v := range want {
			if g.Config[k] != v {
				t.Errorf("full clone %d to dir: %s = %q, want %q", vmid, k, g.Config[k], v)
			}
		}
	}
	// A format the storage does not take falls back to raw.
	cloneAndWait(t, srv, "pve1", 9000, url.Values{"newid": {"126"}, "full": {"1"}, "storage": {"local-lvm"}, "format": {"qcow2"}})
	if g, _ := c.Guest(126); g.Config["scsi1"] != "local-lvm:vm-126-disk-1,size=2G" {
		t.Errorf("qcow2 to lvmthin: %q", g.Config["scsi1"])
	}
	r = call(t, srv, hc, "POST", "/nodes/pve1/qemu/9000/clone", url.Values{"newid": {"127"}, "format": {"qed"}})
	if r.Status != 400 || r.JSON["errors"].(map[string]any)["format"] != "value 'qed' does not have a value in the enumeration 'raw, qcow2, vmdk'" {
		t.Errorf("format qed: %d %s", r.Status, r.Body)
	}
}

// TestCloneAcrossNodes: with the three-node seed, a clone to another node
// works from shared storage (linked or full; the config is on the source
// node, locked, until the task ends) and is refused with PVE's messages
// from local storage, to a non-shared storage or to an unknown node.
func TestCloneAcrossNodes(t *testing.T) {
	srv := startSim(t, Options{Seed: ThreeNodeSeed()})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	for _, tc := range []struct {
		vmid   int
		params url.Values
		status int
		msg    string
	}{
		{8000, url.Values{"newid": {"9100"}, "target": {"pve2"}}, 500, "can't clone VM to node 'pve2' (VM uses local storage)"},
		{8000, url.Values{"newid": {"9100"}, "target": {"pve2"}, "full": {"1"}}, 500, "can't clone VM to node 'pve2' (VM uses local storage)"},
		{8000, url.Values{"newid": {"9100"}, "target": {"pve2"}, "full": {"1"}, "storage": {"ceph"}}, 500, "can't clone VM to node 'pve2' (VM uses local storage)"},
		{8001, url.Values{"newid": {"9100"}, "target": {"pve3"}, "full": {"1"}, "storage": {"local-lvm"}}, 500, "can't clone to non-shared storage 'local-lvm'"},
		{8001, url.Values{"newid": {"9100"}, "target": {"pve9"}}, 500, "no such cluster node 'pve9'"},
		{8001, url.Values{"newid": {"9100"}, "storage": {"local"}, "full": {"1"}}, 400, "Parameter verification failed."},
		{8001, url.Values{"newid": {"9100"}, "storage": {"nope"}, "full": {"1"}}, 500, "storage 'nope' does not exist"},
	} {
		r := call(t, srv, hc, "POST", "/nodes/pve1/qemu/"+itoa(tc.vmid)+"/clone", tc.params)
		if r.Status != tc.status || r.Reason != tc.msg {
			t.Errorf("clone %d %v: %d %q, want %d %q", tc.vmid, tc.params, r.Status, r.Reason, tc.status, tc.msg)
		}
	}
	if _, ok := c.Guest(9100); ok {
		t.Fatal("a refused clone left 9100")
	}
	// Linked clone from ceph to pve2.
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/8001/clone", url.Values{"newid": {"9100"}, "target": {"pve2"}, "name": {"tpl-noble"}}).(string)
	if conf := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/9100/config", nil).(map[string]any); conf["lock"] != "clone" {
		t.Fatalf("clone config while the task runs: %v", conf)
	}
	if exit, _ := waitTask(t, srv, hc, upid); exit != "OK" {
		t.Fatalf("cross-node linked clone: %q", exit)
	}
	g, _ := c.Guest(9100)
	if g.Node != "pve2" || g.Lock != "" || g.Config["scsi0"] != "ceph:base-8001-disk-0/vm-9100-disk-0,iothread=1,size=3584M" ||
		g.Config["ide2"] != "ceph:vm-9100-cloudinit,media=cdrom,size=4M" {
		t.Fatalf("cross-node clone: %+v", g)
	}
	if resourceNode(t, srv, 9100) != "pve2" {
		t.Fatal("resources do not show the clone on pve2")
	}
	mustOK(t, srv, hc, "GET", "/nodes/pve2/qemu/9100/config", nil)
	// Full clone to pve3 onto ceph; target = the source node is local.
	cloneAndWait(t, srv, "pve1", 8001, url.Values{"newid": {"9101"}, "target": {"pve3"}, "full": {"1"}, "storage": {"ceph"}})
	cloneAndWait(t, srv, "pve1", 8001, url.Values{"newid": {"9102"}, "target": {"pve1"}})
	if g1, _ := c.Guest(9101); g1.Node != "pve3" || g1.Config["scsi0"] != "ceph:vm-9101-disk-0,iothread=1,size=3584M" {
		t.Errorf("full clone to pve3: %+v", g1)
	}
	if g2, _ := c.Guest(9102); g2.Node != "pve1" {
		t.Errorf("clone with target = source: %+v", g2)
	}
	// An ISO on local storage makes the VM local too.
	if err := c.SetConfig(8001, map[string]string{"ide0": "local:iso/ubuntu-24.04.2-live-server-amd64.iso,media=cdrom"}); err != nil {
		t.Fatal(err)
	}
	r := call(t, srv, hc, "POST", "/nodes/pve1/qemu/8001/clone", url.Values{"newid": {"9103"}, "target": {"pve2"}})
	if r.Status != 500 || r.Reason != "can't clone VM to node 'pve2' (VM uses local storage)" {
		t.Errorf("cross-node clone with a local ISO: %d %q", r.Status, r.Reason)
	}
}

// resourceNode is the node GET /cluster/resources reports for vmid.
func resourceNode(t *testing.T, srv *Server, vmid int) string {
	t.Helper()
	for _, e := range mustOK(t, srv, httpClient(t, srv), "GET", "/cluster/resources", url.Values{"type": {"vm"}}).([]any) {
		if m := e.(map[string]any); m["vmid"] == float64(vmid) {
			return m["node"].(string)
		}
	}
	t.Fatalf("%d not in /cluster/resources", vmid)
	return ""
}
