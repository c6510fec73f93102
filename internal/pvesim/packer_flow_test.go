package pvesim

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPackerCloneSequence replays the calls Packer 1.11.2 with plugin
// v1.1.1 makes for a proxmox-clone build (pve-api-subset.md §6).
func TestPackerCloneSequence(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	post := func(path string, form url.Values) string {
		t.Helper()
		upid := mustOK(t, srv, hc, "POST", path, form).(string)
		if exit, _ := waitTask(t, srv, hc, upid); exit != "OK" {
			t.Fatalf("POST %s: task %q", path, exit)
		}
		return upid
	}
	mustOK(t, srv, hc, "GET", "/cluster/resources", url.Values{"type": {"vm"}})
	post("/nodes/pve1/qemu/8000/clone", url.Values{"full": {"1"}, "name": {"packer-6f1c"}, "newid": {"9000"}, "target": {"pve1"}})
	post("/nodes/pve1/qemu/9000/config", url.Values{"agent": {"1"}, "cores": {"1"}, "cpu": {"kvm64"},
		"description": {"Packer ephemeral build VM"}, "kvm": {"1"}, "memory": {"512"}, "name": {"packer-6f1c"},
		"onboot": {"0"}, "ostype": {"other"}, "scsihw": {"lsi"}, "sockets": {"1"}, "sshkeys": {"ssh-ed25519%20AAAA"}})
	post("/nodes/pve1/qemu/9000/status/start", nil)
	// The guest agent answers for a running VM with an IPv4 address.
	ifs := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/9000/agent/network-get-interfaces", nil).(map[string]any)
	if res := ifs["result"].([]any); len(res) < 2 || res[1].(map[string]any)["ip-addresses"] == nil {
		t.Fatalf("agent interfaces %v", ifs)
	}
	mustOK(t, srv, hc, "PUT", "/nodes/pve1/qemu/9000/sendkey", url.Values{"key": {"ret"}})
	conf := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/9000/config", nil).(map[string]any)
	if conf["sshkeys"] == nil || conf["description"] != "Packer ephemeral build VM" {
		t.Fatalf("config after update %v", conf)
	}
	post("/nodes/pve1/qemu/9000/config", url.Values{"delete": {"sshkeys"}})
	post("/nodes/pve1/qemu/9000/status/shutdown", nil)
	post("/nodes/pve1/qemu/9000/template", nil)
	post("/nodes/pve1/qemu/9000/config", url.Values{"name": {"tpl-ubuntu-22.04"}})

	g, _ := srv.Cluster().Guest(9000)
	if !g.Template || g.Name != "tpl-ubuntu-22.04" || g.Status != "stopped" || g.Config["sshkeys"] != "" ||
		g.Config["memory"] != "512" || g.Config["scsi0"] != "local-lvm:base-9000-disk-0,iothread=1,size=3584M" {
		t.Fatalf("template after build: %+v", g)
	}
	// Packer's old client reads only the status line: the agent's "not
	// running" answer must be in the reason phrase.
	r := call(t, srv, hc, "GET", "/nodes/pve1/qemu/9000/agent/network-get-interfaces", nil)
	if r.Status != 500 || r.Reason != "VM 9000 is not running" {
		t.Fatalf("agent on stopped VM: %d %q", r.Status, r.Reason)
	}
	var forms []string
	for _, rq := range srv.Requests() {
		if rq.Method == "POST" {
			forms = append(forms, rq.Path+" "+strings.Join(rq.FormKeys, ","))
		}
	}
	if len(forms) != 7 || forms[0] != "/nodes/pve1/qemu/8000/clone full,name,newid,target" {
		t.Fatalf("recorded POSTs %q", forms)
	}
}

// TestPackerISOSequence replays a proxmox-iso build: CD upload, create with
// an allocated disk and an ISO, EFI disk, start, boot command.
func TestPackerISOSequence(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	// Upload like proxmox-api-go's Upload: multipart with content and a file part "filename".
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("content", "iso")
	fw, _ := mw.CreateFormFile("filename", "packer1234.iso")
	_, _ = fw.Write(bytes.Repeat([]byte("x"), 4096))
	_ = mw.Close()
	req, _ := http.NewRequest("POST", srv.URL()+"/nodes/pve1/storage/local/upload", &body)
	req.Header.Set("Authorization", srv.AuthHeader())
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("upload: %s", resp.Status)
	}
	tasks := srv.Cluster().Tasks()
	up := tasks[len(tasks)-1]
	if up.Type != "imgcopy" || up.ID != "" {
		t.Fatalf("upload task %+v", up)
	}
	if exit, _ := waitTask(t, srv, hc, up.UPID); exit != "OK" {
		t.Fatalf("upload task %q", exit)
	}
	var found bool
	for _, v := range mustOK(t, srv, hc, "GET", "/nodes/pve1/storage/local/content", url.Values{"content": {"iso"}}).([]any) {
		m := v.(map[string]any)
		found = found || (m["volid"] == "local:iso/packer1234.iso" && m["size"] == 4096.0 && m["format"] == "iso")
	}
	if !found {
		t.Fatal("uploaded ISO not in storage content")
	}
	r := call(t, srv, hc, "POST", "/nodes/pve1/storage/local-lvm/upload", url.Values{"content": {"iso"}})
	if r.Status == 200 {
		t.Fatal("upload without a file accepted")
	}

	mustOK(t, srv, hc, "GET", "/version", nil)
	mustOK(t, srv, hc, "GET", "/access/permissions", nil)
	r = call(t, srv, hc, "POST", "/nodes/pve1/qemu", url.Values{"vmid": {"9100"}, "ide2": {"local:iso/missing.iso,media=cdrom"}})
	if r.Status != 500 || r.Reason != "volume 'local:iso/missing.iso' does not exist" {
		t.Fatalf("missing ISO: %d %q", r.Status, r.Reason)
	}
	create := url.Values{"vmid": {"9100"}, "name": {"packer-win"}, "memory": {"4096"}, "cores": {"2"}, "sockets": {"1"},
		"ostype": {"win11"}, "scsi0": {"local-lvm:60,format=raw,iothread=1"}, "net0": {"virtio,bridge=vmbr0"},
		"ide2": {"local:iso/SERVER_EVAL_x64FRE_en-us.iso,media=cdrom"}, "ide3": {"local:iso/packer1234.iso,media=cdrom"},
		"efidisk0": {"local-lvm:1,efitype=4m,pre-enrolled-keys=1"}, "bios": {"ovmf"}, "kvm": {"1"}, "agent": {"1"}}
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu", create).(string)
	if !strings.Contains(upid, ":qmcreate:9100:") {
		t.Fatalf("create UPID %q", upid)
	}
	if g, _ := srv.Cluster().Guest(9100); g.Lock != "create" {
		t.Fatalf("lock while creating %q", g.Lock)
	}
	if exit, _ := waitTask(t, srv, hc, upid); exit != "OK" {
		t.Fatalf("create %q", exit)
	}
	g, _ := srv.Cluster().Guest(9100)
	want := map[string]string{
		"scsi0":    "local-lvm:vm-9100-disk-1,iothread=1,size=60G",
		"efidisk0": "local-lvm:vm-9100-disk-0,efitype=4m,pre-enrolled-keys=1,size=4M",
		"ide2":     "local:iso/SERVER_EVAL_x64FRE_en-us.iso,media=cdrom",
		"kvm":      "1",
	}
	for k, v := range want {
		if g.Config[k] != v {
			t.Errorf("%s = %q, want %q", k, g.Config[k], v)
		}
	}
	if !strings.HasPrefix(g.Config["net0"], "virtio=BC:24:11:") || !strings.HasPrefix(g.Config["smbios1"], "uuid=") || g.Lock != "" {
		t.Fatalf("created VM %+v", g)
	}
	r = call(t, srv, hc, "POST", "/nodes/pve1/qemu", url.Values{"vmid": {"9100"}})
	if r.Status != 500 || r.Reason != "unable to create VM 9100 - VM 9100 already exists on node 'pve1'" {
		t.Fatalf("duplicate create: %d %q", r.Status, r.Reason)
	}
	r = call(t, srv, hc, "PUT", "/nodes/pve1/qemu/9100/sendkey", url.Values{"key": {"ret"}})
	if r.Status != 500 || r.Reason != "VM 9100 not running" {
		t.Fatalf("sendkey stopped: %d %q", r.Status, r.Reason)
	}
	upid = mustOK(t, srv, hc, "PUT", "/nodes/pve1/qemu/9100/resize", url.Values{"disk": {"scsi0"}, "size": {"+4G"}}).(string)
	waitTask(t, srv, hc, upid)
	if g, _ := srv.Cluster().Guest(9100); g.Config["scsi0"] != "local-lvm:vm-9100-disk-1,iothread=1,size=64G" {
		t.Fatalf("resized %q", g.Config["scsi0"])
	}
	ts := imageServer(t, map[string][]byte{"rocky.iso": bytes.Repeat([]byte("r"), 8192)})
	upid = mustOK(t, srv, hc, "POST", "/nodes/pve1/storage/local/download-url",
		url.Values{"content": {"iso"}, "filename": {"rocky.iso"}, "url": {ts.URL + "/f/rocky.iso"}}).(string)
	if exit, _ := waitTask(t, srv, hc, upid); exit != "OK" {
		t.Fatalf("download-url %q", exit)
	}
	if vols := srv.Cluster().Volumes("pve1", "local"); len(vols) != 8 {
		t.Fatalf("local content %d volumes, want 8", len(vols))
	}
}

// TestPackerDeletesGeneratedISO checks the call Packer's cleanup makes for
// a generated CD: DELETE …/content/<volid> with the full "local:iso/…" id.
func TestPackerDeletesGeneratedISO(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	if err := srv.Cluster().AddISO("local", "packer-cd.iso", 1024); err != nil {
		t.Fatal(err)
	}
	upid := mustOK(t, srv, hc, "DELETE", "/nodes/pve1/storage/local/content/local:iso/packer-cd.iso", nil).(string)
	if exit, _ := waitTask(t, srv, hc, upid); exit != "OK" {
		t.Fatalf("delete ISO: %q", exit)
	}
	for _, v := range srv.Cluster().Volumes("pve1", "local") {
		if v.Volid == "local:iso/packer-cd.iso" {
			t.Fatal("ISO still listed")
		}
	}
	r := call(t, srv, hc, "DELETE", "/nodes/pve1/storage/local/content/local:iso/packer-cd.iso", nil)
	if r.Status != 500 || r.Reason != "volume 'local:iso/packer-cd.iso' does not exist" {
		t.Fatalf("second delete: %d %q", r.Status, r.Reason)
	}
}
