package pvesim

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// migrate posts a migration and returns the task's exit status and log.
func migrate(t *testing.T, srv *Server, hc *http.Client, node string, vmid int, params url.Values) (string, Task) {
	t.Helper()
	upid := mustOK(t, srv, hc, "POST", "/nodes/"+node+"/qemu/"+itoa(vmid)+"/migrate", params).(string)
	exit, _ := waitTask(t, srv, hc, upid)
	task, _ := srv.Cluster().Task(upid)
	return exit, task
}

// logHas reports whether a line of a migration log (after its time stamp)
// starts with prefix.
func logHas(log []string, prefix string) bool {
	for _, l := range log {
		if len(l) > 20 && strings.HasPrefix(l[20:], prefix) {
			return true
		}
	}
	return false
}

// TestMigrateTemplateOffline: a stopped template migrates in a qmigrate
// task (id = VMID, on the source node) that locks it "migrate" while it
// runs; then its config is on the target node, still a template, its
// local disks copied under their base names, the source copies gone,
// and every list says so.
func TestMigrateTemplateOffline(t *testing.T) {
	srv := startSim(t, Options{Seed: ThreeNodeSeed()})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/migrate", url.Values{"target": {"pve2"}}).(string)
	if !strings.HasPrefix(upid, "UPID:pve1:") || !strings.Contains(upid, ":qmigrate:8000:") {
		t.Fatalf("UPID %q: want a qmigrate task of 8000 on pve1", upid)
	}
	if g, _ := c.Guest(8000); g.Lock != "migrate" || g.Node != "pve1" {
		t.Fatalf("while migrating: node %s lock %q", g.Node, g.Lock)
	}
	if conf := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/8000/config", nil).(map[string]any); conf["lock"] != "migrate" {
		t.Fatalf("config while migrating: %v", conf["lock"])
	}
	for _, p := range []string{"/nodes/pve1/qemu/8000/migrate", "/nodes/pve1/qemu/8000/clone"} {
		r := call(t, srv, hc, "POST", p, url.Values{"target": {"pve3"}, "newid": {"9100"}})
		if r.Status != 500 || r.Reason != "VM is locked (migrate)" {
			t.Errorf("POST %s while migrating: %d %q", p, r.Status, r.Reason)
		}
	}
	exit, running := waitTask(t, srv, hc, upid)
	task, _ := c.Task(upid)
	if exit != "OK" || !running {
		t.Fatalf("migration %q (seen running %v)\n%s", exit, running, strings.Join(task.Log, "\n"))
	}
	g, _ := c.Guest(8000)
	if g.Node != "pve2" || !g.Template || g.Lock != "" || g.Config["scsi0"] != "local-lvm:base-8000-disk-0,iothread=1,size=3584M" ||
		g.Config["ide2"] != "local-lvm:vm-8000-cloudinit,media=cdrom" || g.Tags != "base;cloud-image;ubuntu" {
		t.Fatalf("after migration: %+v", g)
	}
	if resourceNode(t, srv, 8000) != "pve2" {
		t.Fatal("/cluster/resources does not report pve2")
	}
	wantAnswer{"GET", "/nodes/pve1/qemu/8000/config", 500, "Configuration file 'nodes/pve1/qemu-server/8000.conf' does not exist"}.check(t, srv, hc)
	if conf := mustOK(t, srv, hc, "GET", "/nodes/pve2/qemu/8000/config", nil).(map[string]any); conf["template"] != 1.0 {
		t.Fatalf("config on pve2: %v", conf)
	}
	has := func(node, volid string) bool {
		for _, v := range c.Volumes(node, "local-lvm") {
			if v.Volid == volid {
				return true
			}
		}
		return false
	}
	if !has("pve2", "local-lvm:base-8000-disk-0") || has("pve1", "local-lvm:base-8000-disk-0") {
		t.Fatalf("local-lvm content: pve1 %v, pve2 %v", c.Volumes("pve1", "local-lvm"), c.Volumes("pve2", "local-lvm"))
	}
	for _, line := range []string{
		"starting migration of VM 8000 to node 'pve2' (192.0.2.11)",
		"found local disk 'local-lvm:base-8000-disk-0' (attached)",
		"found generated disk 'local-lvm:vm-8000-cloudinit' (in current VM config)",
		"copying local disk images",
		"volume 'local-lvm:base-8000-disk-0' is 'local-lvm:base-8000-disk-0' on the target",
		"migration finished successfully (duration 00:00:0",
	} {
		if !logHas(task.Log, line) {
			t.Errorf("task log lacks %q:\n%s", line, strings.Join(task.Log, "\n"))
		}
	}
	// The template clones on its new node.
	cloneAndWait(t, srv, "pve2", 8000, url.Values{"newid": {"9100"}})
	if g, _ := c.Guest(9100); g.Node != "pve2" || g.Config["scsi0"] != "local-lvm:vm-9100-disk-0,iothread=1,size=3584M" {
		t.Fatalf("linked clone on pve2: %+v", g)
	}
}

// TestMigrateTargetStorage: targetstorage maps local storages (one id
// for all, src:dst pairs, "1" for the same name); shared volumes stay.
func TestMigrateTargetStorage(t *testing.T) {
	srv := startSim(t, Options{Seed: ThreeNodeSeed()})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	cloneAndWait(t, srv, "pve1", 8000, url.Values{"newid": {"9000"}, "full": {"1"}})
	for _, tc := range []struct {
		vmid          int
		from, to, ts  string
		scsi0, ide2   string
		template      bool
		wantUnchanged bool
	}{
		{9000, "pve1", "pve3", "ceph", "ceph:vm-9000-disk-0", "ceph:vm-9000-cloudinit", false, false},
		{8000, "pve1", "pve2", "local-lvm:ceph", "ceph:base-8000-disk-0", "ceph:vm-8000-cloudinit", true, false},
		{8001, "pve1", "pve3", "local-lvm", "ceph:base-8001-disk-0", "ceph:vm-8001-cloudinit", true, true},
		{9000, "pve3", "pve2", "1", "ceph:vm-9000-disk-0", "ceph:vm-9000-cloudinit", false, true},
	} {
		exit, task := migrate(t, srv, hc, tc.from, tc.vmid, url.Values{"target": {tc.to}, "targetstorage": {tc.ts}, "with-local-disks": {"1"}})
		if exit != "OK" {
			t.Fatalf("migrate %d to %s with %s: %q\n%s", tc.vmid, tc.to, tc.ts, exit, strings.Join(task.Log, "\n"))
		}
		g, _ := c.Guest(tc.vmid)
		if g.Node != tc.to || g.Template != tc.template || propHead(g.Config["scsi0"]) != tc.scsi0 || propHead(g.Config["ide2"]) != tc.ide2 {
			t.Errorf("migrate %d with %s: %+v", tc.vmid, tc.ts, g)
		}
		if copied := logHas(task.Log, "copying local disk images"); copied == tc.wantUnchanged {
			t.Errorf("migrate %d with %s: copied disks %v\n%s", tc.vmid, tc.ts, copied, strings.Join(task.Log, "\n"))
		}
	}
}

func propHead(v string) string { h, _ := propList(v); return h }

// migrateSeed is the three-node seed plus a thin pool on pve1 only
// ("fast") holding VM 300, and a locked VM 301.
func migrateSeed() *Seed {
	s := ThreeNodeSeed()
	s.Storages = append(s.Storages, StorageSpec{Name: "fast", Type: "lvmthin", Content: []string{"images"}, Nodes: []string{"pve1"}})
	s.Guests = append(s.Guests,
		GuestSpec{VMID: 300, Node: "pve1", Name: "pinned", Config: map[string]string{"scsi0": "fast:vm-300-disk-0,size=4G"}},
		GuestSpec{VMID: 301, Node: "pve1", Name: "locked", Config: map[string]string{"scsi0": "ceph:vm-301-disk-0,size=4G", "lock": "backup"}})
	return s
}

// TestMigrateRefused: migrate_vm's synchronous errors, in PVE's words.
func TestMigrateRefused(t *testing.T) {
	srv := startSim(t, Options{Seed: migrateSeed()})
	hc := httpClient(t, srv)
	for _, tc := range []struct {
		path   string
		params url.Values
		status int
		msg    string // reason, or the parameter error for 400
	}{
		{"/nodes/pve1/qemu/8000/migrate", url.Values{}, 400, "target: property is missing and it is not optional"},
		{"/nodes/pve1/qemu/8000/migrate", url.Values{"target": {"pve1"}}, 400, "target: target is local node."},
		{"/nodes/pve1/qemu/8000/migrate", url.Values{"target": {"pve9"}}, 500, "no such cluster node 'pve9'"},
		{"/nodes/pve2/qemu/101/migrate", url.Values{"target": {"pve3"}}, 500, "can't migrate running VM without --online"},
		{"/nodes/pve1/qemu/301/migrate", url.Values{"target": {"pve2"}}, 500, "VM is locked (backup)"},
		{"/nodes/pve1/qemu/8000/migrate", url.Values{"target": {"pve2"}, "force": {"1"}}, 400, "force: Only root may use this option."},
		{"/nodes/pve2/qemu/8000/migrate", url.Values{"target": {"pve3"}}, 500, "Configuration file 'nodes/pve2/qemu-server/8000.conf' does not exist"},
		{"/nodes/pve1/qemu/300/migrate", url.Values{"target": {"pve2"}}, 500, "storage 'fast' is not available on node 'pve2'"},
		{"/nodes/pve1/qemu/300/migrate", url.Values{"target": {"pve2"}, "targetstorage": {"1"}}, 500, "storage 'fast' is not available on node 'pve2'"},
		{"/nodes/pve1/qemu/300/migrate", url.Values{"target": {"pve2"}, "targetstorage": {"local"}}, 500, "storage 'local' does not support vm images"},
		{"/nodes/pve1/qemu/300/migrate", url.Values{"target": {"pve2"}, "targetstorage": {"nope"}}, 500, "storage 'nope' does not exist"},
		{"/nodes/pve1/qemu/300/migrate", url.Values{"target": {"pve2"}, "targetstorage": {"fast:fast"}}, 500, "storage 'fast' is not available on node 'pve2'"},
		{"/nodes/pve1/qemu/300/migrate", url.Values{"target": {"pve2"}, "targetstorage": {"1,ceph"}}, 400, "targetstorage: failed to parse storage map: identity mapping cannot be combined with other mappings"},
		{"/nodes/pve1/qemu/300/migrate", url.Values{"target": {"pve2"}, "targetstorage": {"fast:ceph,fast:local-lvm"}}, 400, "targetstorage: failed to parse storage map: duplicate mapping for source 'fast'"},
		{"/nodes/pve1/qemu/300/migrate", url.Values{"target": {"pve2"}, "targetstorage": {"a:b:c"}}, 400, "targetstorage: invalid format - entry 'a:b:c' contains invalid ID - storage ID 'a:b:c' contains illegal characters"},
		{"/nodes/pve1/qemu/300/migrate", url.Values{"target": {"pve2"}, "bwlimit": {"-1"}}, 400, "bwlimit: value must have a minimum value of 0"},
		{"/nodes/pve1/qemu/300/migrate", url.Values{"target": {"pve2"}, "online": {"maybe"}}, 400, "online: type check ('boolean') failed - got 'maybe'"},
	} {
		r := call(t, srv, hc, "POST", tc.path, tc.params)
		got := r.Reason
		if r.Status == 400 {
			for k, v := range r.JSON["errors"].(map[string]any) {
				got = k + ": " + v.(string)
			}
		}
		if r.Status != tc.status || got != tc.msg {
			t.Errorf("POST %s %v: %d %q, want %d %q", tc.path, tc.params, r.Status, got, tc.status, tc.msg)
		}
	}
	if len(srv.Cluster().Tasks()) != 0 {
		t.Fatalf("refused migrations started tasks: %+v", srv.Cluster().Tasks())
	}
	// A map for the pinned pool lets it go.
	if exit, task := migrate(t, srv, hc, "pve1", 300, url.Values{"target": {"pve2"}, "targetstorage": {"fast:local-lvm"}}); exit != "OK" {
		t.Fatalf("migrate 300 with a map: %q\n%s", exit, strings.Join(task.Log, "\n"))
	}
	if g, _ := srv.Cluster().Guest(300); g.Node != "pve2" || g.Config["scsi0"] != "local-lvm:vm-300-disk-0,size=4G" {
		t.Fatalf("300 after migration: %+v", g)
	}
	// A request for a guest on an offline node does not reach it.
	if err := srv.Cluster().SetNodeStatus("pve2", "offline"); err != nil {
		t.Fatal(err)
	}
	r := call(t, srv, hc, "POST", "/nodes/pve2/qemu/101/migrate", url.Values{"target": {"pve3"}, "online": {"1"}})
	if r.Status != 595 || r.Reason != "No route to host" || len(r.Body) != 0 {
		t.Fatalf("migrate from an offline node: %d %q %q", r.Status, r.Reason, r.Body)
	}
}

// TestMigrateTaskFailures: what the worker finds aborts the task with
// "migration aborted" and PVE's log, and leaves the VM on its node,
// unlocked: an offline target, a local ISO, base volumes used by linked
// clones, local devices, an injected task failure and a target that goes
// offline while the task runs.
func TestMigrateTaskFailures(t *testing.T) {
	srv := startSim(t, Options{Seed: ThreeNodeSeed()})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	iso := "local:iso/ubuntu-24.04.2-live-server-amd64.iso"
	for _, tc := range []struct {
		name   string
		setup  func() func()
		target string
		locked bool // phase 1 locked it while the task ran
		lines  []string
	}{
		{"offline target", func() func() {
			must(t, c.SetNodeStatus("pve3", "offline"))
			return func() { must(t, c.SetNodeStatus("pve3", "online")) }
		}, "pve3", false, []string{"ERROR: migration aborted (duration 00:00:00): Can't connect to destination address using public key"}},
		{"local ISO", func() func() {
			must(t, c.SetConfig(8000, map[string]string{"ide0": iso + ",media=cdrom"}))
			return func() { must(t, c.SetConfig(8000, map[string]string{"ide0": ""})) }
		}, "pve2", true, []string{"can't migrate local disk '" + iso + "': local cdrom image",
			"ERROR: Problem found while scanning volumes - can't migrate VM - check log",
			"aborting phase 1 - cleanup resources"}},
		{"linked clone", func() func() {
			must(t, c.AddLinkedClone(8000, 150, "lc"))
			return func() { must(t, c.RemoveGuest(150)) }
		}, "pve2", true, []string{"can't migrate local disk 'local-lvm:base-8000-disk-0': referenced by linked clone(s)"}},
		{"local device", func() func() {
			must(t, c.SetConfig(8000, map[string]string{"hostpci0": "0000:01:00.0", "usb0": "host=spice"}))
			return func() { must(t, c.SetConfig(8000, map[string]string{"hostpci0": "", "usb0": ""})) }
		}, "pve2", false, []string{"ERROR: migration aborted (duration 00:00:00): can't migrate VM which uses local devices: hostpci0"}},
	} {
		undo := tc.setup()
		upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/migrate", url.Values{"target": {tc.target}}).(string)
		if g, _ := c.Guest(8000); (g.Lock == "migrate") != tc.locked {
			t.Errorf("%s: lock %q while the task runs", tc.name, g.Lock)
		}
		exit, _ := waitTask(t, srv, hc, upid)
		task, _ := c.Task(upid)
		if exit != "migration aborted" {
			t.Errorf("%s: exit %q", tc.name, exit)
		}
		for _, l := range tc.lines {
			if !logHas(task.Log, l) {
				t.Errorf("%s: log lacks %q:\n%s", tc.name, l, strings.Join(task.Log, "\n"))
			}
		}
		if g, _ := c.Guest(8000); g.Node != "pve1" || g.Lock != "" {
			t.Errorf("%s: after the failure: node %s lock %q", tc.name, g.Node, g.Lock)
		}
		undo()
	}
	srv.Faults().MustAdd(Fault{Method: "POST", Path: "/nodes/*/qemu/*/migrate", TaskExit: "migration aborted", Count: 1})
	if exit, _ := migrate(t, srv, hc, "pve1", 8000, url.Values{"target": {"pve2"}}); exit != "migration aborted" {
		t.Errorf("injected failure: %q", exit)
	}
	if g, _ := c.Guest(8000); g.Node != "pve1" || g.Lock != "" {
		t.Errorf("after an injected failure: node %s lock %q", g.Node, g.Lock)
	}
	// The target goes away while the disks are copied.
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/migrate", url.Values{"target": {"pve2"}}).(string)
	must(t, c.SetNodeStatus("pve2", "offline"))
	exit, _ := waitTask(t, srv, hc, upid)
	task, _ := c.Task(upid)
	if exit != "migration aborted" || !logHas(task.Log, "ERROR: storage migration for 'local-lvm:base-8000-disk-0' to storage 'local-lvm' failed") {
		t.Errorf("target gone during the copy: %q\n%s", exit, strings.Join(task.Log, "\n"))
	}
	if g, _ := c.Guest(8000); g.Node != "pve1" || g.Lock != "" || !g.Template {
		t.Errorf("after the target went away: %+v", g)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateDirectoryVolumes: storage_migrate's names between storage
// types (a directory storage's file and an LVM-thin volume), a qcow2 that
// LVM-thin cannot take, and a linked clone on local storage that cannot go.
func TestMigrateDirectoryVolumes(t *testing.T) {
	seed := &Seed{Nodes: []NodeSpec{{Name: "pve1"}, {Name: "pve2"}}, Storages: []StorageSpec{
		{Name: "local", Type: "dir", Content: []string{"images", "iso"}},
		{Name: "local-lvm", Type: "lvmthin", Content: []string{"images"}},
	}, Guests: []GuestSpec{
		{VMID: 9000, Template: true, Config: map[string]string{"scsi0": "local:9000/base-9000-disk-0.raw,size=4G"}},
		{VMID: 124, Config: map[string]string{"scsi0": "local:124/vm-124-disk-0.raw,size=4G", "unused0": "local:124/vm-124-disk-1.raw"}},
		{VMID: 125, Config: map[string]string{"scsi0": "local:125/vm-125-disk-0.qcow2,size=4G"}},
		{VMID: 126, Config: map[string]string{"scsi0": "local-lvm:vm-126-disk-0,size=4G"}},
	}}
	srv := startSim(t, Options{Seed: seed})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	cloneAndWait(t, srv, "pve1", 9000, url.Values{"newid": {"123"}})
	exit, task := migrate(t, srv, hc, "pve1", 123, url.Values{"target": {"pve2"}})
	if exit != "migration aborted" || !logHas(task.Log, "ERROR: Problem found while scanning volumes - can't migrate 'local:9000/base-9000-disk-0.raw/123/vm-123-disk-0.qcow2' as it's a clone of 'base-9000-disk-0.raw'") {
		t.Errorf("linked clone on dir: %q\n%s", exit, strings.Join(task.Log, "\n"))
	}
	exit, task = migrate(t, srv, hc, "pve1", 125, url.Values{"target": {"pve2"}, "targetstorage": {"local-lvm"}})
	if exit != "migration aborted" || !logHas(task.Log, "ERROR: storage migration for 'local:125/vm-125-disk-0.qcow2' to storage 'local-lvm' failed - unsupported format 'qcow2' for storage type lvmthin") {
		t.Errorf("qcow2 to lvmthin: %q\n%s", exit, strings.Join(task.Log, "\n"))
	}
	if exit, task = migrate(t, srv, hc, "pve1", 124, url.Values{"target": {"pve2"}, "targetstorage": {"local:local-lvm"}}); exit != "OK" {
		t.Fatalf("raw to lvmthin: %q\n%s", exit, strings.Join(task.Log, "\n"))
	}
	if g, _ := c.Guest(124); g.Config["scsi0"] != "local-lvm:vm-124-disk-0,size=4G" || g.Config["unused0"] != "local-lvm:vm-124-disk-1" {
		t.Errorf("raw to lvmthin (unused disk too): %+v", g.Config)
	}
	if exit, task = migrate(t, srv, hc, "pve1", 126, url.Values{"target": {"pve2"}, "targetstorage": {"local"}}); exit != "OK" {
		t.Fatalf("lvmthin to dir: %q\n%s", exit, strings.Join(task.Log, "\n"))
	}
	if g, _ := c.Guest(126); g.Config["scsi0"] != "local:126/vm-126-disk-0.raw,size=4G" {
		t.Errorf("lvmthin to dir: %+v", g.Config)
	}
}

// TestMigrateRunning: a running VM needs online=1, and with local disks
// with-local-disks=1; it keeps running on the target.
func TestMigrateRunning(t *testing.T) {
	srv := startSim(t, Options{Seed: ThreeNodeSeed()})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	exit, task := migrate(t, srv, hc, "pve2", 101, url.Values{"target": {"pve3"}, "online": {"1"}})
	if exit != "migration aborted" || !logHas(task.Log, "can't migrate local disk 'local-lvm:vm-101-disk-0': can't live migrate attached local disks without with-local-disks option") {
		t.Errorf("live without with-local-disks: %q\n%s", exit, strings.Join(task.Log, "\n"))
	}
	if exit, task = migrate(t, srv, hc, "pve2", 101, url.Values{"target": {"pve3"}, "online": {"1"}, "with-local-disks": {"1"}}); exit != "OK" {
		t.Fatalf("live with local disks: %q\n%s", exit, strings.Join(task.Log, "\n"))
	}
	if exit, task = migrate(t, srv, hc, "pve1", 100, url.Values{"target": {"pve2"}, "online": {"1"}}); exit != "OK" {
		t.Fatalf("live on ceph: %q\n%s", exit, strings.Join(task.Log, "\n"))
	}
	for vmid, node := range map[int]string{101: "pve3", 100: "pve2"} {
		if g, _ := c.Guest(vmid); g.Node != node || g.Status != "running" {
			t.Errorf("%d after live migration: %s %s", vmid, g.Node, g.Status)
		}
	}
}
