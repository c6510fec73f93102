package pvesim

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"
)

// TestThreeNodeSeed: three nodes, pve1 answering; local and local-lvm on
// each node with their own content, ceph shared; a cluster; no guests in
// 9000-9199.
func TestThreeNodeSeed(t *testing.T) {
	srv := startSim(t, Options{Seed: ThreeNodeSeed()})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	if srv.Node() != "pve1" {
		t.Fatalf("node %q answers", srv.Node())
	}
	var nodes []string
	for _, n := range mustOK(t, srv, hc, "GET", "/nodes", nil).([]any) {
		m := n.(map[string]any)
		if m["status"] != "online" {
			t.Errorf("node %v", m)
		}
		nodes = append(nodes, m["node"].(string))
	}
	if !slices.Equal(nodes, []string{"pve1", "pve2", "pve3"}) {
		t.Fatalf("nodes %v", nodes)
	}
	if st := mustOK(t, srv, hc, "GET", "/cluster/status", nil).([]any); len(st) != 4 || st[0].(map[string]any)["type"] != "cluster" {
		t.Fatalf("cluster status %v", st)
	}
	for _, node := range nodes {
		got := map[string]string{}
		for _, s := range mustOK(t, srv, hc, "GET", "/nodes/"+node+"/storage", nil).([]any) {
			m := s.(map[string]any)
			got[m["storage"].(string)] = m["type"].(string) + " " + m["content"].(string) + " shared=" + itoa(int(m["shared"].(float64)))
		}
		want := map[string]string{"local": "dir iso,import,vztmpl,snippets,backup shared=0",
			"local-lvm": "lvmthin images,rootdir shared=0", "ceph": "rbd images shared=1"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s storage %s: %q, want %q", node, k, got[k], v)
			}
		}
	}
	for _, g := range c.Guests() {
		if g.VMID >= 9000 && g.VMID < 9200 {
			t.Errorf("guest %d in the reserved range", g.VMID)
		}
	}
	// local-lvm is per node, ceph the same everywhere.
	if v := c.Volumes("pve2", "local-lvm"); len(v) != 2 || v[0].VMID != 101 {
		t.Errorf("pve2 local-lvm: %+v", v)
	}
	if a, b := c.Volumes("pve1", "ceph"), c.Volumes("pve3", "ceph"); len(a) == 0 || !slices.Equal(a, b) {
		t.Errorf("ceph differs between nodes: %+v / %+v", a, b)
	}
}

// TestSetNodeStatus: a node goes offline and back at runtime; requests
// routed to it get 595 meanwhile; the first node cannot go.
func TestSetNodeStatus(t *testing.T) {
	srv := startSim(t, Options{Seed: ThreeNodeSeed()})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	for _, tc := range []struct{ node, status, err string }{
		{"pve1", "offline", "set node status: pve1 answers the API and cannot be offline"},
		{"pve9", "offline", `set node status: unknown node "pve9"`},
		{"pve2", "down", `set node status: "down": want online or offline`},
	} {
		if err := c.SetNodeStatus(tc.node, tc.status); err == nil || err.Error() != tc.err {
			t.Errorf("SetNodeStatus(%s, %s): %v", tc.node, tc.status, err)
		}
	}
	status := func(node string) string {
		for _, n := range mustOK(t, srv, hc, "GET", "/nodes", nil).([]any) {
			if m := n.(map[string]any); m["node"] == node {
				return m["status"].(string)
			}
		}
		return ""
	}
	// pve3's guest in /cluster/resources: while pve3 is offline, status
	// "unknown" and no statistics, but its name, tags and template flag
	// (the cluster file system still has its config).
	onPVE3 := func() map[string]any {
		for _, e := range mustOK(t, srv, hc, "GET", "/cluster/resources", url.Values{"type": {"vm"}}).([]any) {
			if m := e.(map[string]any); m["node"] == "pve3" {
				return m
			}
		}
		t.Fatal("no guest of pve3 in /cluster/resources")
		return nil
	}
	must(t, c.SetNodeStatus("pve3", "offline"))
	r := call(t, srv, hc, "GET", "/nodes/pve3/qemu", nil)
	if r.Status != 595 || r.Reason != "No route to host" || status("pve3") != "offline" {
		t.Fatalf("offline pve3: %d %q, /nodes %q", r.Status, r.Reason, status("pve3"))
	}
	if g := onPVE3(); g["status"] != "unknown" || g["name"] == nil || g["maxmem"] != nil || g["uptime"] != nil {
		t.Fatalf("a guest of offline pve3 in /cluster/resources: %v", g)
	}
	must(t, c.SetNodeStatus("pve3", "online"))
	if list := mustOK(t, srv, hc, "GET", "/nodes/pve3/qemu", nil).([]any); len(list) != 1 || status("pve3") != "online" {
		t.Fatalf("pve3 back online: %v %q", list, status("pve3"))
	}
	if g := onPVE3(); g["status"] == "unknown" || g["maxmem"] == nil {
		t.Fatalf("a guest of pve3 back online in /cluster/resources: %v", g)
	}
}

// TestMigrateThroughLibrary: proxmox-api-go's VmRef.Migrate (target,
// with-local-disks=1) and the deprecated Client.MigrateNode move a
// template between nodes; a refused migration is the library's error
// with PVE's message.
func TestMigrateThroughLibrary(t *testing.T) {
	srv := startSim(t, Options{Seed: ThreeNodeSeed()})
	c := pxClient(t, srv)
	ctx := testCtx(t)
	ref, err := c.GetVmRefById(ctx, 8000)
	if err != nil {
		t.Fatal(err)
	}
	if err := ref.Migrate(ctx, c, "pve2", false); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if ref, err = c.GetVmRefById(ctx, 8000); err != nil || ref.Node() != "pve2" {
		t.Fatalf("after Migrate: %v %v", ref, err)
	}
	raw, err := pxapi.NewRawConfigQemuFromApi(ctx, ref, c)
	if err != nil || raw.GetName() != "base-ubuntu-22.04" {
		t.Fatalf("config on pve2: %v %v", raw, err)
	}
	if exit, err := c.MigrateNode(ctx, ref, "pve3", false); err != nil || exit != "OK" {
		t.Fatalf("MigrateNode: %v %v", exit, err)
	}
	guests, err := pxapi.ListGuests(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range guests.Get() {
		if g.ID == 8000 && (g.Node != "pve3" || !g.Template || g.Locked) {
			t.Fatalf("listed after MigrateNode: %+v", g)
		}
	}
	running, err := c.GetVmRefById(ctx, 101)
	if err != nil {
		t.Fatal(err)
	}
	err = running.Migrate(ctx, c, "pve3", false)
	var ae *pxapi.ApiError
	if !asAPIErr(err, &ae) || !strings.Contains(ae.Message, "can't migrate running VM without --online") {
		t.Fatalf("migrating a running VM offline: %v", err)
	}
	if err := running.Migrate(ctx, c, "pve3", true); err != nil {
		t.Fatalf("live Migrate with local disks: %v", err)
	}
	if g, _ := srv.Cluster().Guest(101); g.Node != "pve3" || g.Status != "running" {
		t.Fatalf("101 after live migration: %+v", g)
	}
}
