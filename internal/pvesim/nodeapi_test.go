package pvesim

import (
	"net/url"
	"sort"
	"testing"
	"time"
)

// jsonType names a decoded JSON value's type as PVE's schema does
// ("integer" for whole numbers).
func jsonType(v any) string {
	switch x := v.(type) {
	case string:
		return "string"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case bool:
		return "bool"
	}
	return "null"
}

// checkShape compares an object's fields with a schema: field → type
// ("number" also takes integers). Every field of the schema must be
// there and no other.
func checkShape(t *testing.T, what string, obj map[string]any, schema map[string]string) {
	t.Helper()
	for k, want := range schema {
		got := jsonType(obj[k])
		if _, ok := obj[k]; !ok || (got != want && !(want == "number" && got == "integer")) {
			t.Errorf("%s.%s: %s (%v), want %s", what, k, got, obj[k], want)
		}
	}
	var extra []string
	for k := range obj {
		if _, ok := schema[k]; !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("%s: fields PVE does not send: %v", what, extra)
	}
}

// TestNodeStatusFidelity: every field Nodes.pm 'status' sets, typed as
// its returns schema and code give them.
func TestNodeStatusFidelity(t *testing.T) {
	srv := startSim(t, Options{})
	d := mustOK(t, srv, httpClient(t, srv), "GET", "/nodes/pve1/status", nil).(map[string]any)
	checkShape(t, "status", d, map[string]string{"uptime": "integer", "idle": "integer", "cpu": "number",
		"wait": "number", "loadavg": "array", "kversion": "string", "current-kernel": "object",
		"boot-info": "object", "cpuinfo": "object", "memory": "object", "ksm": "object", "swap": "object",
		"pveversion": "string", "rootfs": "object"})
	checkShape(t, "current-kernel", d["current-kernel"].(map[string]any), map[string]string{"sysname": "string",
		"release": "string", "version": "string", "machine": "string"})
	checkShape(t, "boot-info", d["boot-info"].(map[string]any), map[string]string{"mode": "string", "secureboot": "integer"})
	checkShape(t, "cpuinfo", d["cpuinfo"].(map[string]any), map[string]string{"user_hz": "integer", "vendor": "string",
		"family": "string", "model": "string", "mhz": "string", "cpus": "integer", "sockets": "integer",
		"cores": "integer", "flags": "string", "hvm": "string"})
	checkShape(t, "memory", d["memory"].(map[string]any), map[string]string{"total": "integer", "used": "integer",
		"free": "integer", "available": "integer"})
	checkShape(t, "swap", d["swap"].(map[string]any), map[string]string{"total": "integer", "used": "integer", "free": "integer"})
	checkShape(t, "rootfs", d["rootfs"].(map[string]any), map[string]string{"total": "integer", "used": "integer",
		"free": "integer", "avail": "integer"})
	checkShape(t, "ksm", d["ksm"].(map[string]any), map[string]string{"shared": "integer"})
	if la := d["loadavg"].([]any); len(la) != 3 || jsonType(la[0]) != "string" {
		t.Errorf("loadavg %v: three strings", la)
	}
	if d["pveversion"] != "pve-manager/8.4.1/2a5fa54a8503f96d" {
		t.Errorf("pveversion %v", d["pveversion"])
	}
}

// TestClusterStatus: a lone node gets the fake entry (nodeid 0); a
// cluster a cluster entry and one entry per node, offline ones online 0.
func TestClusterStatus(t *testing.T) {
	srv := startSim(t, Options{})
	lone := mustOK(t, srv, httpClient(t, srv), "GET", "/cluster/status", nil).([]any)
	if len(lone) != 1 {
		t.Fatalf("lone node: %v", lone)
	}
	checkShape(t, "lone", lone[0].(map[string]any), map[string]string{"type": "string", "id": "string", "name": "string",
		"ip": "string", "local": "integer", "nodeid": "integer", "online": "integer", "level": "string"})

	srv = doctorSim(t)
	hc := httpClient(t, srv)
	st := mustOK(t, srv, hc, "GET", "/cluster/status", nil).([]any)
	if len(st) != 4 {
		t.Fatalf("cluster: %v", st)
	}
	cl := st[0].(map[string]any)
	checkShape(t, "cluster", cl, map[string]string{"type": "string", "id": "string", "name": "string",
		"nodes": "integer", "version": "integer", "quorate": "integer"})
	if cl["name"] != "lab" || cl["nodes"] != float64(3) || cl["quorate"] != float64(1) || cl["version"] != float64(3) {
		t.Errorf("cluster entry %v", cl)
	}
	for i, want := range []struct {
		name          string
		online, local float64
	}{{"pve1", 1, 1}, {"pve2", 0, 0}, {"pve3", 1, 0}} {
		n := st[i+1].(map[string]any)
		checkShape(t, want.name, n, map[string]string{"type": "string", "id": "string", "name": "string",
			"ip": "string", "local": "integer", "nodeid": "integer", "online": "integer", "level": "string"})
		if n["name"] != want.name || n["online"] != want.online || n["local"] != want.local || n["nodeid"] != float64(i+1) {
			t.Errorf("node entry %v", n)
		}
	}
	if r := callAuth(t, srv, hc, "GET", "/cluster/status", nil, tokenAuth("weak")); r.Status != 403 ||
		r.Reason != "Permission check failed (/, Sys.Audit)" {
		t.Errorf("weak /cluster/status: %d %q", r.Status, r.Reason)
	}
}

// TestOfflineNodeAndClock: requests routed to an offline node get
// pveproxy's 595 without a body; /nodes says offline; a node's clock
// offset shows in GET /nodes/{node}/time.
func TestOfflineNodeAndClock(t *testing.T) {
	srv := doctorSim(t)
	hc := httpClient(t, srv)
	for _, p := range []string{"/nodes/pve2/status", "/nodes/pve2/qemu", "/nodes/pve2/storage", "/nodes/pve2/time"} {
		r := call(t, srv, hc, "GET", p, nil)
		if r.Status != 595 || r.Reason != "No route to host" || len(r.Body) != 0 {
			t.Errorf("GET %s: %d %q %q", p, r.Status, r.Reason, r.Body)
		}
	}
	for _, n := range mustOK(t, srv, hc, "GET", "/nodes", nil).([]any) {
		n := n.(map[string]any)
		if n["node"] == "pve2" && n["status"] != "offline" {
			t.Errorf("/nodes pve2: %v", n)
		}
	}
	before := time.Now().Unix()
	d := mustOK(t, srv, hc, "GET", "/nodes/pve3/time", nil).(map[string]any)
	checkShape(t, "time", d, map[string]string{"time": "integer", "localtime": "integer", "timezone": "string"})
	skew := int64(d["time"].(float64)) - before
	if skew < 570 || skew > 575 || d["timezone"] != "Europe/Vienna" {
		t.Errorf("pve3 time: %v (skew %ds)", d, skew)
	}
	if off := d["localtime"].(float64) - d["time"].(float64); off != 3600 && off != 7200 {
		t.Errorf("Vienna localtime offset %v", off)
	}
}

// TestNextIDAndOptions: datacenter.cfg's next-id bounds nextid and shows
// in /cluster/options.
func TestNextIDAndOptions(t *testing.T) {
	srv := doctorSim(t)
	hc := httpClient(t, srv)
	if id := mustOK(t, srv, hc, "GET", "/cluster/nextid", nil); id != "9000" {
		t.Errorf("nextid %v, want 9000", id)
	}
	o := mustOK(t, srv, hc, "GET", "/cluster/options", nil).(map[string]any)
	nid, _ := o["next-id"].(map[string]any)
	if nid["lower"] != "9000" || nid["upper"] != "9100" || jsonType(o["allowed-tags"]) != "array" {
		t.Errorf("options %v", o)
	}
	w := callAuth(t, srv, hc, "GET", "/cluster/options", nil, tokenAuth("weak"))
	if _, has := w.data().(map[string]any)["next-id"]; w.Status != 200 || has {
		t.Errorf("without Sys.Audit on /: %s", w.Body)
	}
	def := startSim(t, Options{})
	if o := mustOK(t, def, httpClient(t, def), "GET", "/cluster/options", nil).(map[string]any); o["next-id"] != nil {
		t.Errorf("default seed options %v", o)
	}
}

// TestStorageContentAndListing: storages report content, enabled, active,
// shared, type and sizes as storage_info does; content types are enforced
// on create, clone and upload with PVE's messages; one volume's attributes.
func TestStorageContentAndListing(t *testing.T) {
	srv := doctorSim(t)
	hc := httpClient(t, srv)
	byName := map[string]map[string]any{}
	for _, e := range mustOK(t, srv, hc, "GET", "/nodes/pve3/storage", nil).([]any) {
		e := e.(map[string]any)
		byName[e["storage"].(string)] = e
	}
	full := map[string]string{"storage": "string", "type": "string", "content": "string", "enabled": "integer",
		"active": "integer", "shared": "integer", "total": "integer", "used": "integer", "avail": "integer",
		"used_fraction": "number"}
	checkShape(t, "local", byName["local"], full)
	delete(full, "used_fraction")
	checkShape(t, "scratch", byName["scratch"], full)
	if s := byName["scratch"]; s["enabled"] != float64(0) || s["active"] != float64(0) || s["total"] != float64(0) {
		t.Errorf("scratch is not on pve3: %v", s)
	}
	if s := byName["old-nfs"]; s["enabled"] != float64(0) || s["shared"] != float64(1) || s["content"] != "images,iso" {
		t.Errorf("old-nfs is disabled: %v", s)
	}
	isoStores := mustOK(t, srv, hc, "GET", "/nodes/pve1/storage", url.Values{"content": {"iso"}}).([]any)
	if len(isoStores) != 2 {
		t.Errorf("enabled iso storages on pve1: %v", isoStores)
	}
	r := call(t, srv, hc, "POST", "/nodes/pve1/qemu", url.Values{"vmid": {"9001"}, "scsi0": {"scratch:32"}})
	if r.Status != 400 || r.JSON["errors"].(map[string]any)["storage"] != "storage 'scratch' does not support vm images" {
		t.Errorf("create on scratch: %d %s", r.Status, r.Body)
	}
	r = call(t, srv, hc, "POST", "/nodes/pve1/qemu/8001/clone", url.Values{"newid": {"9002"}, "full": {"1"}, "storage": {"scratch"}})
	if r.Status != 400 || r.JSON["errors"].(map[string]any)["storage"] != "storage 'scratch' does not support vm images" {
		t.Errorf("clone to scratch: %d %s", r.Status, r.Body)
	}
	r = call(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/clone", url.Values{"newid": {"9002"}})
	if r.Status != 500 || r.Reason != "Configuration file 'nodes/pve1/qemu-server/8000.conf' does not exist" {
		t.Errorf("clone of a missing base: %d %q", r.Status, r.Reason)
	}
	r = call(t, srv, hc, "POST", "/nodes/pve1/qemu", url.Values{"vmid": {"9003"}, "ide2": {"local:iso/Rocky-9.5-x86_64-minimal.iso,media=cdrom"}})
	if r.Status != 500 || r.Reason != "volume 'local:iso/Rocky-9.5-x86_64-minimal.iso' does not exist" {
		t.Errorf("create with a missing ISO: %d %q", r.Status, r.Reason)
	}
	if _, ok := srv.Cluster().Guest(9001); ok {
		t.Error("the refused create left a guest")
	}
	v := mustOK(t, srv, hc, "GET", "/nodes/pve1/storage/local/content/local:iso/ubuntu-24.04.2-live-server-amd64.iso", nil).(map[string]any)
	checkShape(t, "volume", v, map[string]string{"path": "string", "size": "integer", "used": "integer", "format": "string"})
	if v["path"] != "/var/lib/vz/template/iso/ubuntu-24.04.2-live-server-amd64.iso" || v["format"] != "raw" || v["size"] != float64(3213064192) {
		t.Errorf("volume %v", v)
	}
	v = mustOK(t, srv, hc, "GET", "/nodes/pve1/storage/local-lvm/content/base-8001-disk-0", nil).(map[string]any)
	if v["path"] != "/dev/pve/base-8001-disk-0" || v["format"] != "raw" {
		t.Errorf("lvm volume %v", v)
	}
	r = call(t, srv, hc, "GET", "/nodes/pve1/storage/local/content/local:iso/Rocky-9.5-x86_64-minimal.iso", nil)
	if r.Status != 500 || r.Reason != "volume_size_info on 'local:iso/Rocky-9.5-x86_64-minimal.iso' failed - no format" {
		t.Errorf("missing ISO: %d %q", r.Status, r.Reason)
	}
	r = call(t, srv, hc, "GET", "/nodes/pve1/storage/local/content/local-lvm:vm-100-disk-0", nil)
	if r.Status != 400 || r.JSON["errors"].(map[string]any)["volume"] != "storage ID mismatch (local-lvm != local)\n" {
		t.Errorf("volume of another storage: %d %s", r.Status, r.Body)
	}
}
