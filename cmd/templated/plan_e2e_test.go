package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"templated/internal/plan"
	"templated/internal/pvesim"
)

// planJSON runs plan --json --detailed-exitcode and decodes it.
func (e *e2e) planJSON() (plan.Plan, result) {
	e.t.Helper()
	r := e.run("plan", "--json", "--detailed-exitcode")
	var p plan.Plan
	if r.code == 0 || r.code == 2 {
		if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
			e.t.Fatalf("plan --json output is not JSON: %v\n%s", err, r)
		}
	}
	return p, r
}

// action returns the plan's action for name.
func action(t *testing.T, p plan.Plan, name string) plan.Action {
	t.Helper()
	for _, a := range p.Actions {
		if a.Template == name {
			return a
		}
	}
	t.Fatalf("no action for %s in %+v", name, p.Actions)
	return plan.Action{}
}

func hasReason(a plan.Action, code string) bool {
	for _, r := range a.Reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

// expect checks kinds (and one reason each) for the named templates and
// that all others are kept.
func expect(t *testing.T, p plan.Plan, want map[string][2]string) {
	t.Helper()
	for _, a := range p.Actions {
		w, ok := want[a.Template]
		if !ok {
			w = [2]string{string(plan.Keep), plan.ReasonUpToDate}
		}
		if string(a.Kind) != w[0] || !hasReason(a, w[1]) {
			t.Errorf("%s: %s %+v, want %s with reason %s", a.Template, a.Kind, a.Reasons, w[0], w[1])
		}
	}
}

// recently is a build time after the last patch tick and within max_age.
func recently() time.Time { return time.Now().Add(-2 * time.Minute) }

func TestPlanE2E(t *testing.T) {
	t.Run("fresh cluster", func(t *testing.T) {
		e := newE2E(t, false, pvesim.Options{})
		r := e.run("plan", "--detailed-exitcode")
		if r.code != 2 || strings.Count(r.stdout, "will be created") != 4 || !strings.Contains(r.stdout, "+ tpl-win2022 (9100)") {
			t.Fatalf("fresh cluster:\n%s", r)
		}
		if !strings.Contains(r.stdout, "Plan: 4 to create, 0 to rebuild, 0 unchanged, 0 blocked.") {
			t.Errorf("summary missing:\n%s", r.stdout)
		}
		if w := e.writes(); len(w) != 0 {
			t.Fatalf("plan sent write requests: %v", w)
		}
	})
	t.Run("all up to date: one request, exit 0", func(t *testing.T) {
		e := newE2E(t, false, pvesim.Options{})
		e.seedAll(recently())
		e.sim.ResetRequests()
		p, r := e.planJSON()
		if r.code != 0 || p.Summary.Keep != 4 {
			t.Fatalf("up to date:\n%s", r)
		}
		reqs := e.sim.Requests()
		if len(reqs) != 1 || reqs[0].Path != "/cluster/resources" {
			t.Fatalf("a plan over an unchanged cluster made %d requests: %+v", len(reqs), reqs)
		}
		text := e.run("plan", "--detailed-exitcode")
		if text.code != 0 || !strings.Contains(text.stdout, "No changes.") || !strings.Contains(text.stdout, "4 unchanged") {
			t.Fatalf("text plan:\n%s", text)
		}
	})
	t.Run("one Packer file edited rebuilds only its template", func(t *testing.T) {
		e := newE2E(t, false, pvesim.Options{})
		e.seedAll(recently())
		e.edit("packer/linux/rocky/rocky-9.pkrvars.hcl", func(s string) string { return s + "\n# tuned\n" })
		p, r := e.planJSON()
		if r.code != 2 {
			t.Fatalf("exit code:\n%s", r)
		}
		expect(t, p, map[string][2]string{"tpl-rocky-9": {"rebuild", plan.ReasonInputsChanged}})
	})
	t.Run("shared Packer file edited rebuilds all", func(t *testing.T) {
		e := newE2E(t, false, pvesim.Options{})
		e.seedAll(recently())
		e.edit("packer/shared/variables.pkr.hcl", func(s string) string { return s + "\n# shared change\n" })
		p, _ := e.planJSON()
		if p.Summary.Rebuild != 4 {
			t.Fatalf("after a shared change %+v", p.Summary)
		}
	})
	t.Run("release bumped", func(t *testing.T) {
		e := newE2E(t, false, pvesim.Options{})
		e.seedAll(recently())
		e.edit("desired/templates.yaml", func(s string) string {
			return strings.Replace(s, "release: 1.0.0        # bump to force a rebuild", "release: 1.1.0", 1)
		})
		p, r := e.planJSON()
		if r.code != 2 {
			t.Fatalf("exit code:\n%s", r)
		}
		expect(t, p, map[string][2]string{"tpl-ubuntu-22.04": {"rebuild", plan.ReasonReleaseBumped}})
	})
	t.Run("memory changed by hand", func(t *testing.T) {
		e := newE2E(t, false, pvesim.Options{})
		e.seedAll(recently())
		if err := e.sim.Cluster().SetConfig(9001, map[string]string{"memory": "4096"}); err != nil {
			t.Fatal(err)
		}
		p, r := e.planJSON()
		if r.code != 2 {
			t.Fatalf("exit code:\n%s", r)
		}
		expect(t, p, map[string][2]string{"tpl-ubuntu-24.04": {"rebuild", plan.ReasonHardwareDrift}})
		if a := action(t, p, "tpl-ubuntu-24.04"); !strings.Contains(a.Reasons[0].Message, "memory 4096 MiB (desired 2048)") {
			t.Errorf("reason: %+v", a.Reasons)
		}
	})
	t.Run("template too old", func(t *testing.T) {
		e := newE2E(t, false, pvesim.Options{})
		d := e.desired()
		for _, tp := range d.Templates {
			at := recently()
			if tp.Name == "tpl-win2022" {
				at = time.Now().Add(-40 * 24 * time.Hour)
			}
			e.seedBuilt(d, tp, at, "")
		}
		p, _ := e.planJSON()
		expect(t, p, map[string][2]string{"tpl-win2022": {"rebuild", plan.ReasonMaxAge}})
	})
	t.Run("patch tick passed", func(t *testing.T) {
		e := newE2E(t, false, pvesim.Options{})
		d := e.desired()
		rocky, _ := d.Template("tpl-rocky-9")
		// Built an hour before the last tick of the monthly schedule: within
		// max_age (35 days), but a patch rebuild is due.
		var last time.Time
		for tick := rocky.Schedule.Next(time.Now().Add(-40 * 24 * time.Hour)); tick.Before(time.Now()); tick = rocky.Schedule.Next(tick) {
			last = tick
		}
		for _, tp := range d.Templates {
			at := recently()
			if tp.Name == "tpl-rocky-9" {
				at = last.Add(-time.Hour)
			}
			e.seedBuilt(d, tp, at, "")
		}
		p, _ := e.planJSON()
		a := action(t, p, "tpl-rocky-9")
		if a.Kind != plan.Rebuild || !hasReason(a, plan.ReasonPatchDue) || hasReason(a, plan.ReasonMaxAge) {
			t.Fatalf("rocky: %+v", a)
		}
	})
	t.Run("VMID taken by a plain VM", func(t *testing.T) {
		e := newE2E(t, false, pvesim.Options{})
		if err := e.sim.Cluster().AddGuest(pvesim.GuestSpec{VMID: 9100, Node: "pve1", Name: "win-scratch", Running: true,
			Config: map[string]string{"cores": "2", "memory": "4096", "scsi0": "local-lvm:vm-9100-disk-0,size=60G"}}); err != nil {
			t.Fatal(err)
		}
		p, r := e.planJSON()
		if r.code != 2 {
			t.Fatalf("exit code:\n%s", r)
		}
		if a := action(t, p, "tpl-win2022"); a.Kind != plan.Blocked || !hasReason(a, plan.ReasonPlainVM) {
			t.Fatalf("win2022: %+v", a)
		}
		text := e.run("plan")
		if !strings.Contains(text.stdout, "! tpl-win2022 (9100) is blocked") || !strings.Contains(text.stdout, `plain VM ("win-scratch", running)`) {
			t.Fatalf("text:\n%s", text)
		}
	})
	t.Run("duplicate names", func(t *testing.T) {
		e := newE2E(t, false, pvesim.Options{})
		e.seedAll(recently())
		if err := e.sim.Cluster().AddGuest(pvesim.GuestSpec{VMID: 555, Node: "pve1", Name: "tpl-ubuntu-22.04",
			Config: map[string]string{"cores": "1", "memory": "512"}}); err != nil {
			t.Fatal(err)
		}
		p, _ := e.planJSON()
		if a := action(t, p, "tpl-ubuntu-22.04"); a.Kind != plan.Blocked || !hasReason(a, plan.ReasonDuplicateName) {
			t.Fatalf("duplicate: %+v", a)
		}
	})
	t.Run("hand-built template in the range", func(t *testing.T) {
		e := newE2E(t, false, pvesim.Options{})
		if err := e.sim.Cluster().AddGuest(pvesim.GuestSpec{VMID: 9002, Node: "pve1", Name: "rocky9-golden", Template: true,
			Tags: "golden", Config: map[string]string{"cores": "2", "memory": "2048"}}); err != nil {
			t.Fatal(err)
		}
		r := e.run("plan")
		if !strings.Contains(r.stdout, "templated adopt tpl-rocky-9") {
			t.Fatalf("no adoption hint:\n%s", r)
		}
	})
	t.Run("Proxmox unreachable", func(t *testing.T) {
		e := newE2E(t, false, pvesim.Options{})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		e.writeEnv("https://"+addr+"/api2/json", e.sim.TokenID(), e.sim.TokenSecret())
		r := e.run("plan", "--detailed-exitcode")
		if r.code != 1 || !strings.Contains(r.stderr, "cannot reach Proxmox") {
			t.Fatalf("unreachable:\n%s", r)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		e := newE2E(t, false, pvesim.Options{})
		e.writeEnv(e.sim.URL(), e.sim.TokenID(), "00000000-0000-0000-0000-000000000000")
		r := e.run("plan", "--detailed-exitcode")
		if r.code != 1 || !strings.Contains(strings.ToLower(r.stderr), "authentication failed") {
			t.Fatalf("bad token:\n%s", r)
		}
		if strings.Contains(r.stderr+r.stdout, "00000000-0000-0000-0000-000000000000") {
			t.Fatal("the token secret was printed")
		}
	})
	t.Run("invalid desired file", func(t *testing.T) {
		e := newE2E(t, false, pvesim.Options{})
		e.edit("desired/templates.yaml", func(s string) string { return strings.Replace(s, "vmid: 9001", "vmid: 9000", 1) })
		r := e.run("plan")
		if r.code != 1 || !strings.Contains(r.stderr, "desired/templates.yaml:") || !strings.Contains(r.stderr, "9000 is already used by tpl-ubuntu-22.04") {
			t.Fatalf("invalid desired:\n%s", r)
		}
		v := e.run("validate")
		if v.code != 1 || v.stderr != r.stderr {
			t.Fatalf("validate disagrees with plan:\n%s\nplan:\n%s", v, r)
		}
		if len(e.sim.Requests()) != 0 {
			t.Fatal("plan contacted Proxmox with an invalid desired file")
		}
	})
}
