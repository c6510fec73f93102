package main

// The ancestry acceptance test: a three-node simulator, templates built
// by templated, 30 guests cloned through the API as a third party would
// (full and linked, some with their tags edited), a rebuild, and then
// `templated clones --outdated`, the daemon's /metrics and the plan.

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"templated/internal/ancestry"
	"templated/internal/pvesim"
)

// pveAPI is a third party's client of the simulator: plain HTTP calls
// with the token, as a Terraform provider or a script would make.
type pveAPI struct {
	t    testing.TB
	base string
	auth string
	hc   *http.Client
}

func newPVEAPI(e *e2e) *pveAPI {
	e.t.Helper()
	ca, err := os.ReadFile(e.sim.CAFile())
	if err != nil {
		e.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &pveAPI{t: e.t, base: e.sim.URL(), auth: "PVEAPIToken=" + e.sim.TokenID() + "=" + e.sim.TokenSecret(),
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
}

// call sends one request and returns its data.
func (a *pveAPI) call(method, path string, params url.Values) any {
	a.t.Helper()
	var body io.Reader
	u := a.base + path
	if method == http.MethodGet {
		u += "?" + params.Encode()
	} else {
		body = strings.NewReader(params.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", a.auth)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	var out struct{ Data any }
	if err := json.Unmarshal(b, &out); err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	return out.Data
}

// task waits for the task a call started and fails the test unless it
// ended OK.
func (a *pveAPI) task(node string, upid any) {
	a.t.Helper()
	id, _ := upid.(string)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		st, _ := a.call(http.MethodGet, "/nodes/"+node+"/tasks/"+url.PathEscape(id)+"/status", nil).(map[string]any)
		if st["status"] == "stopped" {
			if st["exitstatus"] != "OK" {
				a.t.Fatalf("task %s: %v", id, st["exitstatus"])
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.t.Fatalf("task %s did not end", id)
}

// clone clones src (on node) to newid, full or linked.
func (a *pveAPI) clone(node string, src, newid int, name string, full bool) {
	a.t.Helper()
	f := "0"
	if full {
		f = "1"
	}
	a.task(node, a.call(http.MethodPost, fmt.Sprintf("/nodes/%s/qemu/%d/clone", node, src),
		url.Values{"newid": {fmt.Sprint(newid)}, "name": {name}, "full": {f}}))
}

// setTags replaces a guest's tags, as someone editing them in the UI.
func (a *pveAPI) setTags(node string, vmid int, tags string) {
	a.t.Helper()
	a.call(http.MethodPut, fmt.Sprintf("/nodes/%s/qemu/%d/config", node, vmid), url.Values{"tags": {tags}})
}

// clonesJSON runs `templated clones` with args and decodes its --json.
func (e *e2e) clonesJSON(args ...string) map[string]ancestry.Lineage {
	e.t.Helper()
	r := e.run(append([]string{"clones", "--json"}, args...)...)
	if r.code != 0 {
		e.t.Fatalf("clones: %s", r)
	}
	var doc struct{ Templates []ancestry.Lineage }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		e.t.Fatalf("clones --json: %v\n%s", err, r.stdout)
	}
	out := map[string]ancestry.Lineage{}
	for _, l := range doc.Templates {
		out[l.Template] = l
	}
	return out
}

func cloneIDs(cs []ancestry.Clone) []int {
	var out []int
	for _, c := range cs {
		out = append(out, c.VMID)
	}
	slices.Sort(out)
	return out
}

func span(from, to int, except ...int) []int {
	var out []int
	for id := from; id <= to; id++ {
		if !slices.Contains(except, id) {
			out = append(out, id)
		}
	}
	return out
}

func TestClonesAncestryE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("real Packer builds; skipped with -short")
	}
	e := newE2E(t, true, pvesim.Options{Seed: pvesim.ThreeNodeSeed()})
	// tpl-ubuntu-24.04 on the shared RBD storage, whose linked clones
	// name their base volume (LVM-thin keeps no such link).
	e.keepTemplates(map[string][]string{"tpl-ubuntu-24.04": {"storage: ceph"}}, "tpl-ubuntu-22.04", "tpl-ubuntu-24.04")
	e.initLedger()
	e.apply(0, "--parallel", "2")
	api := newPVEAPI(e)

	// 20 full clones of tpl-ubuntu-22.04, two with their tags replaced
	// (the stamp gone: no longer attributable) and one with a tag added;
	// 10 linked clones of tpl-ubuntu-24.04, two with their tags replaced
	// (still known by their base volume).
	for id := 200; id < 220; id++ {
		api.clone("pve1", 9000, id, fmt.Sprintf("rke2-agent-%d", id), true)
	}
	for id := 300; id < 310; id++ {
		api.clone("pve1", 9001, id, fmt.Sprintf("web-%d", id), false)
	}
	api.setTags("pve1", 202, "k8s")
	api.setTags("pve1", 203, "k8s;prod")
	api.setTags("pve1", 300, "web")
	api.setTags("pve1", 301, "web")
	g, _ := e.sim.Cluster().Guest(210)
	api.setTags("pve1", 210, g.Tags+";prod")

	// Rebuild tpl-ubuntu-22.04 (a release bump), then clone it again.
	e.edit("desired/templates.yaml", func(s string) string {
		head, rest, _ := strings.Cut(s, "  - name: tpl-ubuntu-22.04")
		return head + "  - name: tpl-ubuntu-22.04" + strings.Replace(rest, "release: 1.0.0", "release: 1.1.0", 1)
	})
	e.apply(0)
	for id := 220; id < 225; id++ {
		api.clone("pve1", 9000, id, fmt.Sprintf("rke2-agent-%d", id), true)
	}

	outdated := e.clonesJSON("--outdated")
	u22, u24 := outdated["tpl-ubuntu-22.04"], outdated["tpl-ubuntu-24.04"]
	if got, want := cloneIDs(u22.Outdated), span(200, 219, 202, 203); !slices.Equal(got, want) {
		t.Fatalf("outdated clones of tpl-ubuntu-22.04: %v, want %v", got, want)
	}
	if len(u22.Clones) != 0 || len(u24.Outdated) != 0 {
		t.Fatalf("--outdated lists current clones: %+v %+v", u22.Clones, u24.Outdated)
	}
	for _, c := range u22.Outdated {
		if c.Build.Release != "1.0.0" || c.Behind <= 0 {
			t.Fatalf("outdated clone %+v", c)
		}
	}
	if got := cloneIDs(u24.Unstamped); !slices.Equal(got, []int{300, 301}) {
		t.Fatalf("unstamped linked clones of tpl-ubuntu-24.04: %v", got)
	}
	all := e.clonesJSON()
	if got := cloneIDs(all["tpl-ubuntu-22.04"].Clones); !slices.Equal(got, span(220, 224)) {
		t.Fatalf("current clones of tpl-ubuntu-22.04: %v", got)
	}
	if got := cloneIDs(all["tpl-ubuntu-24.04"].Clones); !slices.Equal(got, span(302, 309)) {
		t.Fatalf("current clones of tpl-ubuntu-24.04: %v", got)
	}

	// The plan over the unchanged fleet: one request, no action on a
	// clone, and the counts agree.
	e.sim.ResetRequests()
	r := e.run("plan", "--json", "--detailed-exitcode")
	if r.code != 0 || len(e.sim.Requests()) != 1 {
		t.Fatalf("plan: exit %d, %d requests: %+v\n%s", r.code, len(e.sim.Requests()), e.sim.Requests(), r)
	}
	var p struct {
		Actions []struct {
			Template string
			Clones   struct{ Current, Outdated int }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatal(err)
	}
	for _, a := range p.Actions {
		want := map[string][2]int{"tpl-ubuntu-22.04": {5, 18}, "tpl-ubuntu-24.04": {8, 0}}[a.Template]
		if a.Clones.Current != want[0] || a.Clones.Outdated != want[1] {
			t.Errorf("plan's clones of %s: %+v, want %v", a.Template, a.Clones, want)
		}
	}

	// The daemon's metrics agree.
	d := startDaemonProc(t, e.repo, e.env, "--interval", "1h")
	d.waitFor(time.Minute, "the first run", func() bool { return d.idleAfter(time.Time{}) })
	for name, want := range map[string]float64{
		`templated_clones{build="current",template="tpl-ubuntu-22.04"}`:       5,
		`templated_clones{build="outdated",template="tpl-ubuntu-22.04"}`:      18,
		`templated_clones{build="current",template="tpl-ubuntu-24.04"}`:       8,
		`templated_clones_outdated{age="lt_30d",template="tpl-ubuntu-22.04"}`: 18,
	} {
		if got := d.metric(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	// Nothing templated did touched a clone.
	for _, id := range append(span(200, 224), span(300, 309)...) {
		if g, ok := e.sim.Cluster().Guest(id); !ok || g.Template {
			t.Errorf("clone %d: %+v", id, g)
		}
	}
}
