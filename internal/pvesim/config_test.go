package pvesim

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestTagsNormalised(t *testing.T) {
	cases := map[string]string{
		"Golden;ubuntu":          "golden;ubuntu",
		"b a,c;a  B":             "a;b;c",
		"ubuntu;golden;UBUNTU":   "golden;ubuntu",
		"":                       "",
		"  ;; ,":                 "",
		"k8s,rke2 v1.2+x_y":      "k8s;rke2;v1.2+x_y",
		"managed-by-templated;z": "managed-by-templated;z",
	}
	for in, want := range cases {
		if got, bad := normalizeTags(in); got != want || bad != "" {
			t.Errorf("normalizeTags(%q) = %q (bad %q), want %q", in, got, bad, want)
		}
	}
	if _, bad := normalizeTags("ok;-bad"); bad != "-bad" {
		t.Errorf("invalid tag not reported: %q", bad)
	}

	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	mustOK(t, srv, hc, "PUT", "/nodes/pve1/qemu/100/config", url.Values{"tags": {"Zeta, alpha;ALPHA beta"}})
	conf := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/100/config", nil).(map[string]any)
	if conf["tags"] != "alpha;beta;zeta" {
		t.Fatalf("stored tags %q", conf["tags"])
	}
	r := call(t, srv, hc, "PUT", "/nodes/pve1/qemu/100/config", url.Values{"tags": {"ok;$bad"}})
	if r.Status != 400 || r.JSON["errors"].(map[string]any)["tags"] == nil {
		t.Fatalf("invalid tag: %d %s", r.Status, r.Body)
	}
	mustOK(t, srv, hc, "PUT", "/nodes/pve1/qemu/100/config", url.Values{"tags": {""}})
	if g, _ := srv.Cluster().Guest(100); g.Tags != "" {
		t.Fatalf("empty tags kept %q", g.Tags)
	}
}

func TestConfigUpdates(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	if err := c.SetRunning(101, false); err != nil {
		t.Fatal(err)
	}
	// Description: trailing whitespace stripped, multi-line kept, 8 KiB max.
	desc := "managed-by=templated\nspec-sha=abc\n\n  \n"
	mustOK(t, srv, hc, "PUT", "/nodes/pve1/qemu/101/config", url.Values{"description": {desc}, "cipassword": {"hunter2"}})
	conf := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/101/config", nil).(map[string]any)
	if conf["description"] != "managed-by=templated\nspec-sha=abc" || conf["cipassword"] != "**********" {
		t.Fatalf("description %q cipassword %q", conf["description"], conf["cipassword"])
	}
	r := call(t, srv, hc, "PUT", "/nodes/pve1/qemu/101/config", url.Values{"description": {strings.Repeat("x", 8193)}})
	if r.Status != 400 {
		t.Fatalf("9 KiB description: %d", r.Status)
	}
	mustOK(t, srv, hc, "PUT", "/nodes/pve1/qemu/101/config", url.Values{"description": {strings.Repeat("x", 8192)}})

	// Digest mismatch and typed values.
	r = call(t, srv, hc, "PUT", "/nodes/pve1/qemu/101/config", url.Values{"cores": {"8"}, "digest": {strings.Repeat("0", 40)}})
	if r.Status != 500 || !strings.HasPrefix(r.Reason, "checksum mismatch (file change by other user?)") {
		t.Fatalf("digest mismatch: %d %q", r.Status, r.Reason)
	}
	digest := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/101/config", nil).(map[string]any)["digest"].(string)
	mustOK(t, srv, hc, "PUT", "/nodes/pve1/qemu/101/config", url.Values{"cores": {"8"}, "digest": {digest}, "onboot": {"false"}})
	if g, _ := c.Guest(101); g.Config["cores"] != "8" || g.Config["onboot"] != "0" {
		t.Fatalf("cores %q onboot %q", g.Config["cores"], g.Config["onboot"])
	}
	r = call(t, srv, hc, "PUT", "/nodes/pve1/qemu/101/config", url.Values{"cores": {"many"}})
	if r.Status != 400 || r.JSON["errors"].(map[string]any)["cores"] != "type check ('integer') failed - got 'many'" {
		t.Fatalf("bad cores: %d %s", r.Status, r.Body)
	}

	// delete= and disks: a detached disk becomes unused0, cloud-init drives go.
	mustOK(t, srv, hc, "PUT", "/nodes/pve1/qemu/101/config", url.Values{"scsi1": {"local-lvm:4,iothread=true"},
		"net2": {"virtio=0E:EB:EB:3E:36:27,bridge=vmbr0,firewall=false"}})
	if g, _ := c.Guest(101); g.Config["net2"] != "virtio=0E:EB:EB:3E:36:27,bridge=vmbr0,firewall=0" {
		t.Fatalf("net2 %q: want the given MAC kept and booleans as 1/0", g.Config["net2"])
	}
	if g, _ := c.Guest(101); g.Config["scsi1"] != "local-lvm:vm-101-disk-1,iothread=1,size=4G" {
		t.Fatalf("allocated disk %q", g.Config["scsi1"])
	}
	mustOK(t, srv, hc, "PUT", "/nodes/pve1/qemu/101/config", url.Values{"delete": {"scsi1,ide2;tags"}})
	g, _ := c.Guest(101)
	if _, ok := g.Config["scsi1"]; ok || g.Config["unused0"] != "local-lvm:vm-101-disk-1" || g.Config["ide2"] != "" || g.Tags != "" {
		t.Fatalf("after delete: %v", g.Config)
	}
	mustOK(t, srv, hc, "PUT", "/nodes/pve1/qemu/101/config", url.Values{"ide2": {"local-lvm:cloudinit"}})
	if g, _ := c.Guest(101); g.Config["ide2"] != "local-lvm:vm-101-cloudinit,media=cdrom" {
		t.Fatalf("cloud-init re-add %q", g.Config["ide2"])
	}

	// Async POST: a qmconfig task.
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/101/config", url.Values{"name": {"renamed"}, "net1": {"virtio,bridge=vmbr1"}}).(string)
	if !strings.Contains(upid, ":qmconfig:101:") {
		t.Fatalf("POST config UPID %q", upid)
	}
	if exit, _ := waitTask(t, srv, hc, upid); exit != "OK" {
		t.Fatalf("POST config: %q", exit)
	}
	if g, _ := c.Guest(101); g.Name != "renamed" || !strings.HasPrefix(g.Config["net1"], "virtio=BC:24:11:") {
		t.Fatalf("after POST: name %q net1 %q", g.Name, g.Config["net1"])
	}

	// Locked VM: PUT fails at once, POST fails in its task.
	if err := c.SetConfig(101, map[string]string{"lock": "backup"}); err != nil {
		t.Fatal(err)
	}
	r = call(t, srv, hc, "PUT", "/nodes/pve1/qemu/101/config", url.Values{"name": {"x"}})
	if r.Status != 500 || r.Reason != "VM is locked (backup)" {
		t.Fatalf("locked PUT: %d %q", r.Status, r.Reason)
	}
	upid = mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/101/config", url.Values{"name": {"x"}}).(string)
	if exit, _ := waitTask(t, srv, hc, upid); exit != "VM is locked (backup)" {
		t.Fatalf("locked POST: %q", exit)
	}
	mustOK(t, srv, hc, "PUT", "/nodes/pve1/qemu/101/config", url.Values{"name": {"x"}, "skiplock": {"1"}})
}

func TestPendingOnRunningVM(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	mustOK(t, srv, hc, "PUT", "/nodes/pve1/qemu/100/config", url.Values{"memory": {"16384"}, "name": {"big"}, "delete": {"onboot"}})
	g, _ := srv.Cluster().Guest(100)
	if g.Config["memory"] != "8192" || g.Pending["memory"] != "16384" || g.Name != "big" {
		t.Fatalf("running VM: memory %q pending %v name %q", g.Config["memory"], g.Pending, g.Name)
	}
	conf := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/100/config", nil).(map[string]any)
	cur := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/100/config", url.Values{"current": {"1"}}).(map[string]any)
	if conf["memory"] != "16384" || cur["memory"] != "8192" {
		t.Fatalf("config memory %v current %v", conf["memory"], cur["memory"])
	}
	if _, ok := conf["onboot"]; ok {
		t.Fatal("onboot (fast-plug) not deleted at once")
	}
	var memPending bool
	for _, e := range mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/100/pending", nil).([]any) {
		m := e.(map[string]any)
		memPending = memPending || (m["key"] == "memory" && m["value"] == "8192" && m["pending"] == "16384")
	}
	if !memPending {
		t.Fatal("pending list lacks memory")
	}
	// Stop and start: pending is applied at start.
	waitTask(t, srv, hc, mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/100/status/stop", nil).(string))
	waitTask(t, srv, hc, mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/100/status/start", nil).(string))
	if g, _ := srv.Cluster().Guest(100); g.Config["memory"] != "16384" || len(g.Pending) != 0 {
		t.Fatalf("after restart: memory %q pending %v", g.Config["memory"], g.Pending)
	}
}

var reDiskKey = regexp.MustCompile(`^(ide|sata|scsi|virtio)\d+$|^efidisk0$|^tpmstate0$|^unused\d+$`)

func TestSizesAndKeys(t *testing.T) {
	sizes := map[string]int64{"32G": 32 << 30, "3584M": 3584 << 20, "512K": 512 << 10, "1T": 1 << 40, "100": 100,
		"1.5G": 3 << 29, "": 0, "G": 0, "x": 0, "-1G": 0, "1e3": 0}
	for in, want := range sizes {
		if got := parseSize(in, false); got != want {
			t.Errorf("parseSize(%q) = %d, want %d", in, got, want)
		}
	}
	if parseSize("20", true) != 20<<30 {
		t.Error("bare number is not GiB in allocation syntax")
	}
	for k, want := range map[string]bool{"scsi0": true, "ide2": true, "virtio15": true, "unused3": true, "efidisk0": true,
		"tpmstate0": true, "scsihw": false, "scsi": false, "net0": false, "sata0x": false, "ipconfig0": false} {
		if isDiskKey(k) != want || reDiskKey.MatchString(k) != want {
			t.Errorf("isDiskKey(%q) = %v, want %v", k, isDiskKey(k), want)
		}
	}
}

func TestJSONBody(t *testing.T) {
	srv := startSim(t, Options{NoTLS: true})
	req, _ := http.NewRequest("PUT", srv.URL()+"/nodes/pve1/qemu/101/config",
		strings.NewReader(`{"cores": 6, "onboot": false, "tags": "X;y"}`))
	req.Header.Set("Authorization", srv.AuthHeader())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	g, _ := srv.Cluster().Guest(101)
	if resp.StatusCode != 200 || g.Tags != "x;y" || g.Pending["cores"] != "6" || g.Config["onboot"] != "0" {
		t.Fatalf("%s: %+v", resp.Status, g)
	}
}
