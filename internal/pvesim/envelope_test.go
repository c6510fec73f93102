package pvesim

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestEnvelopeAndNumberTypes(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)

	res := mustOK(t, srv, hc, "GET", "/cluster/resources", url.Values{"type": {"vm"}}).([]any)
	if len(res) != 8 {
		t.Fatalf("default seed has %d guests, want 8", len(res))
	}
	var ids []string
	byID := map[float64]map[string]any{}
	for _, e := range res {
		m := e.(map[string]any)
		for _, k := range []string{"vmid", "template", "maxmem", "maxcpu", "maxdisk", "mem", "cpu", "uptime"} {
			if _, ok := m[k].(float64); !ok {
				t.Fatalf("%v: %s is %T, want a JSON number", m["id"], k, m[k])
			}
		}
		for _, k := range []string{"name", "node", "type", "status", "id"} {
			if _, ok := m[k].(string); !ok {
				t.Fatalf("%v: %s is %T, want a string", m["id"], k, m[k])
			}
		}
		ids = append(ids, m["id"].(string))
		byID[m["vmid"].(float64)] = m
	}
	// PVE sorts the vmlist keys as strings.
	want := "qemu/100 qemu/101 qemu/102 lxc/200 lxc/201 qemu/8000 qemu/8001 qemu/8002"
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("order %s, want %s", got, want)
	}
	if byID[8000]["template"] != 1.0 || byID[100]["template"] != 0.0 {
		t.Fatalf("template flags: %v %v", byID[8000]["template"], byID[100]["template"])
	}
	if byID[8000]["tags"] != "base;cloud-image;ubuntu" || byID[100]["status"] != "running" {
		t.Fatalf("8000 tags %v, 100 status %v", byID[8000]["tags"], byID[100]["status"])
	}
	if byID[100]["maxmem"] != float64(8192<<20) || byID[100]["maxdisk"] != float64(64<<30) || byID[100]["maxcpu"] != 4.0 {
		t.Fatalf("100 sizes: %v", byID[100])
	}

	conf := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/8000/config", nil).(map[string]any)
	if _, ok := conf["memory"].(string); !ok {
		t.Errorf("memory is %T, want string", conf["memory"])
	}
	for _, k := range []string{"cores", "sockets", "template"} {
		if _, ok := conf[k].(float64); !ok {
			t.Errorf("config %s is %T, want number", k, conf[k])
		}
	}
	if _, ok := conf["agent"].(string); !ok {
		t.Errorf("agent is %T, want string", conf["agent"])
	}
	if d, _ := conf["digest"].(string); len(d) != 40 {
		t.Errorf("digest %q", d)
	}
	plain := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/100/config", nil).(map[string]any)
	if _, ok := plain["template"]; ok {
		t.Errorf("non-template config has a template key")
	}

	if id, ok := mustOK(t, srv, hc, "GET", "/cluster/nextid", nil).(string); !ok || id != "103" {
		t.Fatalf("nextid %#v, want \"103\"", id)
	}
	if id := mustOK(t, srv, hc, "GET", "/cluster/nextid", url.Values{"vmid": {"9000"}}); id != "9000" {
		t.Fatalf("nextid?vmid=9000 = %#v", id)
	}
	r := call(t, srv, hc, "GET", "/cluster/nextid", url.Values{"vmid": {"100"}})
	if r.Status != 400 || r.Reason != "Parameter verification failed." ||
		r.JSON["errors"].(map[string]any)["vmid"] != "VM 100 already exists" {
		t.Fatalf("nextid taken: %d %q %s", r.Status, r.Reason, r.Body)
	}

	ver := mustOK(t, srv, hc, "GET", "/version", nil).(map[string]any)
	if ver["version"] != "8.4.1" || ver["release"] != "8.4" {
		t.Fatalf("version %v", ver)
	}
	nodes := mustOK(t, srv, hc, "GET", "/nodes", nil).([]any)
	if n := nodes[0].(map[string]any); n["node"] != "pve1" || n["status"] != "online" || n["maxcpu"] != 16.0 {
		t.Fatalf("nodes %v", nodes)
	}
	all := mustOK(t, srv, hc, "GET", "/cluster/resources", nil).([]any)
	if len(all) != 8+1+2 {
		t.Fatalf("untyped resources: %d entries, want 11", len(all))
	}
	for _, typ := range []string{"node", "storage"} {
		for _, e := range mustOK(t, srv, hc, "GET", "/cluster/resources", url.Values{"type": {typ}}).([]any) {
			if e.(map[string]any)["type"] != typ {
				t.Fatalf("type=%s returned %v", typ, e)
			}
		}
	}
	bad := call(t, srv, hc, "GET", "/cluster/resources", url.Values{"type": {"qemu"}})
	if bad.Status != 400 || bad.JSON["errors"] == nil {
		t.Fatalf("invalid type: %d %s", bad.Status, bad.Body)
	}
}

func TestContentTypeAndVoid(t *testing.T) {
	srv := startSim(t, Options{NoTLS: true})
	hc := httpClient(t, srv)
	req, _ := http.NewRequest("PUT", srv.URL()+"/nodes/pve1/qemu/100/config", strings.NewReader("description=hi"))
	req.Header.Set("Authorization", srv.AuthHeader())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := new(strings.Builder)
	_, _ = io.Copy(buf, resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json;charset=UTF-8" || buf.String() != `{"data":null}` {
		t.Fatalf("PUT config: %s %q %q", resp.Status, resp.Header.Get("Content-Type"), buf.String())
	}
}

func TestErrorsCarryMessageTwice(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	for _, tc := range []wantAnswer{
		{"GET", "/nodes/pve1/qemu/4242/config", 500, "Configuration file 'nodes/pve1/qemu-server/4242.conf' does not exist"},
		{"GET", "/nodes/pve1/qemu/200/config", 500, "Configuration file 'nodes/pve1/qemu-server/200.conf' does not exist"},
		{"GET", "/nodes/pve1/lxc/200/config", 200, ""},
		{"GET", "/cluster/ha/resources/9000", 500, "no such resource 'vm:9000'"},
		{"GET", "/x", 501, "Method 'GET /x' not implemented"},
		{"DELETE", "/version", 501, "Method 'DELETE /version' not implemented"},
		{"GET", "/nodes/pve9/qemu", 500, "hostname lookup 'pve9' failed - failed to get address info for: pve9: Name or service not known"},
		{"GET", "/nodes/pve1/storage/nope/content", 500, "storage 'nope' does not exist"},
	} {
		tc.check(t, srv, hc)
	}
	// The connection is closed after a hijacked error; the next request works.
	mustOK(t, srv, hc, "GET", "/version", nil)
}

func TestConfigOnWrongNode(t *testing.T) {
	seed := DefaultSeed()
	seed.Nodes = append(seed.Nodes, NodeSpec{Name: "pve2"})
	srv := startSim(t, Options{Seed: seed, NoTLS: true})
	hc := httpClient(t, srv)
	r := call(t, srv, hc, "GET", "/nodes/pve2/qemu/100/config", nil)
	if r.Status != 500 || r.Reason != "Configuration file 'nodes/pve2/qemu-server/100.conf' does not exist" {
		t.Fatalf("wrong node: %d %q", r.Status, r.Reason)
	}
	if l := mustOK(t, srv, hc, "GET", "/nodes/pve2/qemu", nil).([]any); len(l) != 0 {
		t.Fatalf("pve2 lists %v", l)
	}
}
