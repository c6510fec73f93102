package pvesim

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// importImage downloads data as local:import/NAME (sha256-checked).
func importImage(t *testing.T, srv *Server, hc *http.Client, name string, data []byte) {
	t.Helper()
	ts := imageServer(t, map[string][]byte{name: data})
	sum := sha256.Sum256(data)
	exit, task := downloadTask(t, srv, hc, url.Values{"content": {"import"}, "filename": {name}, "url": {ts.URL + "/f/" + name},
		"checksum": {hex.EncodeToString(sum[:])}, "checksum-algorithm": {"sha256"}})
	if exit != "OK" {
		t.Fatalf("download %s: %q\n%s", name, exit, strings.Join(task.Log, "\n"))
	}
}

// createVM posts a create and returns the task's exit status and log.
func createVM(t *testing.T, srv *Server, hc *http.Client, params url.Values) (string, Task) {
	t.Helper()
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu", params).(string)
	exit, _ := waitTask(t, srv, hc, upid)
	task, _ := srv.Cluster().Task(upid)
	return exit, task
}

// TestCreateImportFrom: a VM created from a downloaded image gets a disk
// of the image's (virtual) size, rounded to LVM extents, shown as PVE
// shows an imported disk, next to a cloud-init drive, a serial socket,
// the agent and a boot order.
func TestCreateImportFrom(t *testing.T) {
	srv := startSim(t, Options{Seed: importSeed("9.0.10")})
	hc := httpClient(t, srv)
	importImage(t, srv, hc, "noble.qcow2", qcow2Image(2252<<20, 8192))
	importImage(t, srv, hc, "tiny.raw", randomBytes(t, 3<<20+100))
	exit, task := createVM(t, srv, hc, url.Values{"vmid": {"123"}, "name": {"noble"}, "memory": {"2048"},
		"scsihw": {"virtio-scsi-single"}, "scsi0": {"local-lvm:0,import-from=local:import/noble.qcow2,discard=on"},
		"scsi1": {"local-lvm:0,import-from=local:import/tiny.raw"}, "ide2": {"local-lvm:cloudinit"},
		"serial0": {"socket"}, "vga": {"serial0"}, "agent": {"1"}, "boot": {"order=scsi0"},
		"net0": {"virtio,bridge=vmbr0"}})
	if exit != "OK" {
		t.Fatalf("create: %q\n%s", exit, strings.Join(task.Log, "\n"))
	}
	conf, _ := srv.Cluster().Config(123)
	for k, v := range map[string]string{
		"scsi0": "local-lvm:vm-123-disk-0,discard=on,size=2252M", "scsi1": "local-lvm:vm-123-disk-1,size=4M",
		"ide2": "local-lvm:vm-123-cloudinit,media=cdrom", "serial0": "socket", "agent": "1", "boot": "order=scsi0",
	} {
		if conf[k] != v {
			t.Errorf("%s = %q, want %q", k, conf[k], v)
		}
	}
	for _, line := range []string{
		"create full clone of drive (local:import/noble.qcow2)",
		`  Logical volume "vm-123-disk-0" created.`,
		"allocated target volume 'local-lvm:vm-123-disk-0'",
		"transferred 2.2 GiB of 2.2 GiB (100.00%)",
		"scsi0: successfully created disk 'local-lvm:vm-123-disk-0,discard=on,size=2252M'",
		"ide2: successfully created disk 'local-lvm:vm-123-cloudinit,media=cdrom'",
	} {
		if !hasLine(task.Log, line) {
			t.Errorf("no log line %q in\n%s", line, strings.Join(task.Log, "\n"))
		}
	}
	for _, v := range srv.Cluster().Volumes("pve1", "local-lvm") {
		if v.Volid == "local-lvm:vm-123-disk-0" && v.Size != 2252<<20 {
			t.Errorf("listed %+v", v)
		}
	}
	// The image stays: it can be imported again.
	if _, ok := findVol(srv, "local:import/noble.qcow2"); !ok {
		t.Error("import image gone")
	}
	// A VM's disk can be a source too (VM.Clone on its owner).
	if exit, _ := createVM(t, srv, hc, url.Values{"vmid": {"124"}, "scsi0": {"local-lvm:0,import-from=local-lvm:vm-100-disk-0"}}); exit != "OK" {
		t.Fatalf("import from a VM disk: %q", exit)
	}
	if conf, _ := srv.Cluster().Config(124); conf["scsi0"] != "local-lvm:vm-124-disk-0,size=64G" {
		t.Errorf("disk from vm-100-disk-0: %q", conf["scsi0"])
	}
}

// TestCreateImportFromFailures: what the API refuses at once (PVE's 400s
// and 500s) and what fails the create task (a missing source).
func TestCreateImportFromFailures(t *testing.T) {
	srv := startSim(t, Options{Seed: importSeed("8.4.1")})
	hc := httpClient(t, srv)
	importImage(t, srv, hc, "noble.qcow2", qcow2Image(1<<30, 0))
	if err := srv.Cluster().AddFile(ISOSpec{Storage: "local", Content: "import", File: "vm.ovf", Size: 100}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, scsi0, msg, errs string }{
		{"iso", "local-lvm:0,import-from=local:iso/virtio-win.iso", "Parameter verification failed.",
			"local:iso/virtio-win.iso has wrong type 'iso' - needs to be 'images' or 'import'"},
		{"size", "local-lvm:8,import-from=local:import/noble.qcow2", "Parameter verification failed.",
			"'import-from' requires special syntax - use <storage ID>:0,import-from=<source>"},
		{"path", "local-lvm:0,import-from=/var/lib/vz/import/noble.qcow2", "Only root can pass arbitrary filesystem paths.", ""},
		{"ovf", "local-lvm:0,import-from=local:import/vm.ovf", "volume 'local:import/vm.ovf' - not a QEMU image format 'ovf'", ""},
		{"name", "local-lvm:0,import-from=local:import/noble.img", "unable to parse directory volume name 'import/noble.img'", ""},
		{"target", "local:0,import-from=local:import/noble.qcow2", "Parameter verification failed.", ""},
	} {
		r := call(t, srv, hc, "POST", "/nodes/pve1/qemu", url.Values{"vmid": {"130"}, "scsi0": {tc.scsi0}})
		if r.Reason != tc.msg {
			t.Errorf("%s: %d %q, want %q", tc.name, r.Status, r.Reason, tc.msg)
		}
		if e, _ := r.JSON["errors"].(map[string]any); tc.errs != "" && (e == nil || e["scsi0"] != tc.errs) {
			t.Errorf("%s: errors %v, want scsi0 %q", tc.name, e, tc.errs)
		}
		if _, ok := srv.Cluster().Guest(130); ok {
			t.Fatalf("%s: VM 130 created", tc.name)
		}
	}
	for _, tc := range []struct{ src, exit string }{
		{"local:import/missing.qcow2", "unable to create VM 131 - failed to stat '/var/lib/vz/import/missing.qcow2'"},
		{"local-lvm:vm-100-disk-7", "unable to create VM 131 - cannot import from 'local-lvm:vm-100-disk-7' - could not get size of local-lvm:vm-100-disk-7"},
	} {
		exit, task := createVM(t, srv, hc, url.Values{"vmid": {"131"}, "scsi0": {"local-lvm:0,import-from=" + tc.src}})
		if exit != tc.exit || task.Log[len(task.Log)-1] != "TASK ERROR: "+tc.exit {
			t.Errorf("%s: exit %q, want %q", tc.src, exit, tc.exit)
		}
		if _, ok := srv.Cluster().Guest(131); ok {
			t.Errorf("%s: VM 131 left behind", tc.src)
		}
	}
}

// TestImportFromVersions: PVE 8.2 knows no import volumes on a dir
// storage; 8.3 imports them.
func TestImportFromVersions(t *testing.T) {
	old := startSim(t, Options{Seed: importSeed("8.2.4")})
	hc := httpClient(t, old)
	r := call(t, old, hc, "POST", "/nodes/pve1/qemu", url.Values{"vmid": {"130"}, "scsi0": {"local-lvm:0,import-from=local:import/x.qcow2"}})
	if r.Status != 500 || r.Reason != "unable to parse directory volume name 'import/x.qcow2'" {
		t.Errorf("8.2: %d %q", r.Status, r.Reason)
	}
	srv := startSim(t, Options{Seed: importSeed("8.3.0")})
	hc = httpClient(t, srv)
	if err := srv.Cluster().AddFile(ISOSpec{Storage: "local", Content: "import", File: "x.qcow2", Size: 1000, VirtualSize: 10 << 30}); err != nil {
		t.Fatal(err)
	}
	if exit, _ := createVM(t, srv, hc, url.Values{"vmid": {"130"}, "scsi0": {"local-lvm:0,import-from=local:import/x.qcow2"}}); exit != "OK" {
		t.Fatalf("8.3: %q", exit)
	}
	if conf, _ := srv.Cluster().Config(130); conf["scsi0"] != "local-lvm:vm-130-disk-0,size=10G" {
		t.Errorf("8.3: %q", conf["scsi0"])
	}
}

// TestImportFromPermissions: an import source needs Datastore.Audit or
// Datastore.AllocateSpace on its storage (check_volume_access), a VM's
// disk VM.Clone on that VM, a socket serial port VM.Config.HWType.
func TestImportFromPermissions(t *testing.T) {
	seed := importSeed("9.0.10")
	off := false
	seed.Access = &AccessSpec{
		Users: []UserSpec{{ID: "b@pve"}, {ID: "r@pve"}},
		Roles: []RoleSpec{{Name: "Builder", Privs: []string{"VM.Allocate", "VM.Config.Disk", "VM.Config.HWType",
			"VM.Config.Options", "VM.Config.CDROM", "VM.Config.Memory"}}},
		Tokens: []TokenSpec{{ID: "b@pve!t", Secret: "sb", Privsep: &off}, {ID: "r@pve!t", Secret: "sr", Privsep: &off},
			{ID: "root@pam!templated", Secret: "root", Privsep: &off}},
		ACLs: []ACLSpec{
			{Path: "/vms", Roles: []string{"Builder"}, Users: []string{"b@pve", "r@pve"}},
			{Path: "/storage/local-lvm", Roles: []string{"PVEDatastoreUser"}, Users: []string{"b@pve", "r@pve"}},
			{Path: "/storage/local", Roles: []string{"PVEAuditor"}, Users: []string{"r@pve"}},
		},
	}
	srv := startSim(t, Options{Seed: seed})
	hc := httpClient(t, srv)
	if err := srv.Cluster().AddFile(ISOSpec{Storage: "local", Content: "import", File: "x.qcow2", Size: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct{ user, scsi0, msg string }{
		{"b", "local-lvm:0,import-from=local:import/x.qcow2", "Permission check failed (/storage/local, Datastore.AllocateSpace|Datastore.Audit)"},
		{"r", "local-lvm:0,import-from=local-lvm:vm-100-disk-0", "Permission check failed (/vms/100, VM.Clone)"},
		{"r", "local-lvm:0,import-from=local:import/x.qcow2", ""},
	} {
		vmid := []string{"140", "141", "142"}[i]
		params := url.Values{"vmid": {vmid}, "scsi0": {tc.scsi0}, "serial0": {"socket"}, "agent": {"1"}}
		r := callAuth(t, srv, hc, "POST", "/nodes/pve1/qemu", params, "PVEAPIToken="+tc.user+"@pve!t=s"+tc.user)
		if tc.msg != "" {
			if r.Status != 403 || r.Reason != tc.msg {
				t.Errorf("%s %s: %d %q, want 403 %q", tc.user, tc.scsi0, r.Status, r.Reason, tc.msg)
			}
			continue
		}
		if r.Status != 200 {
			t.Fatalf("%s %s: %d %q", tc.user, tc.scsi0, r.Status, r.Reason)
		}
		if exit, _ := waitTask(t, srv, hc, r.data().(string)); exit != "OK" {
			t.Errorf("%s: task %q", tc.user, exit)
		}
	}
	r := callAuth(t, srv, hc, "POST", "/nodes/pve1/qemu", url.Values{"vmid": {"143"}, "serial0": {"/dev/ttyS0"}}, "PVEAPIToken=r@pve!t=sr")
	if r.Status != 500 || r.Reason != "only root can set 'serial0' config for real devices" {
		t.Errorf("real serial port: %d %q", r.Status, r.Reason)
	}
}
