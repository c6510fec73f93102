package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"templated/internal/daemon"
	"templated/internal/pvesim"
	"templated/internal/session"
	"templated/internal/state"
)

// TestClonesE2E: guests carrying the stamp of an older build of
// tpl-ubuntu-22.04 (as Proxmox copied it when they were cloned) are
// listed by `clones --outdated`, counted by `clones --json`, shown as
// 2/3 by `status`; plan over the unchanged fleet still makes one request.
func TestClonesE2E(t *testing.T) {
	e := newE2E(t, false, pvesim.Options{})
	d := e.desired()
	tpl, ok := d.Template("tpl-ubuntu-22.04")
	if !ok {
		t.Fatal("no tpl-ubuntu-22.04 in the desired file")
	}
	builtAt := recently().UTC().Truncate(time.Second)
	e.seedAll(builtAt)

	stamp := func(release, inputs string, at time.Time) state.Stamp {
		return state.Stamp{Template: tpl.Name, Release: release, InputsHash: inputs, BuiltAt: at.UTC().Truncate(time.Second),
			BuildID: "b-" + release, Role: state.RoleTemplate, Images: e.imageChecksums(d, tpl)}
	}
	current := stamp(tpl.Release.String(), e.inputs(d, tpl), builtAt)
	older := stamp("0.9.0", strings.Repeat("ab", 32), builtAt.AddDate(0, 0, -40))
	oldest := stamp("0.8.0", strings.Repeat("cd", 32), builtAt.AddDate(0, 0, -100))
	guests := []struct {
		vmid int
		name string
		s    state.Stamp
	}{
		{300, "old-1", older}, {301, "old-2", older}, {302, "old-3", oldest},
		{310, "new-1", current}, {311, "new-2", current},
	}
	for _, g := range guests {
		err := e.sim.Cluster().AddGuest(pvesim.GuestSpec{VMID: g.vmid, Node: "pve1", Name: g.name, Running: true,
			Tags: strings.Join(g.s.Tags(), ";"), Description: g.s.Description(),
			Config: map[string]string{"cores": "2", "memory": "2048", "scsi0": fmt.Sprintf("local-lvm:vm-%d-disk-0,size=20G", g.vmid)}})
		if err != nil {
			t.Fatal(err)
		}
	}

	// --outdated lists exactly the three, oldest build first.
	r := e.run("clones", "--outdated")
	if r.code != 0 {
		t.Fatalf("clones --outdated:\n%s", r)
	}
	rows := regexp.MustCompile(`(?m)^  (\d+) +(\S+) +pve1 +(\S+) `).FindAllStringSubmatch(r.stdout, -1)
	var listed []string
	for _, m := range rows {
		listed = append(listed, m[1]+" "+m[2]+" "+m[3])
	}
	if want := []string{"302 old-3 0.8.0", "300 old-1 0.9.0", "301 old-2 0.9.0"}; !slices.Equal(listed, want) {
		t.Errorf("clones --outdated listed %q, want %q:\n%s", listed, want, r.stdout)
	}
	if !strings.Contains(r.stdout, "tpl-ubuntu-22.04 (9000): current build 1.0.0 of ") || !strings.Contains(r.stdout, "; 3 outdated\n") ||
		!strings.Contains(r.stdout, "100 days behind") || !strings.Contains(r.stdout, "40 days behind") {
		t.Errorf("clones --outdated:\n%s", r.stdout)
	}
	if w := e.writes(); len(w) != 0 {
		t.Fatalf("clones sent write requests: %v", w)
	}

	// NAME, before or after the flags; every clone with --json.
	r = e.run("clones", "tpl-ubuntu-22.04", "--json")
	var doc clonesDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); r.code != 0 || err != nil {
		t.Fatalf("clones --json: %v\n%s", err, r)
	}
	if doc.FormatVersion != clonesFormatVersion || len(doc.Templates) != 1 {
		t.Fatalf("clones --json: %+v", doc)
	}
	l := doc.Templates[0]
	if l.Template != tpl.Name || l.Current == nil || !l.Current.BuiltAt.Equal(builtAt) || len(l.Clones) != 2 || len(l.Outdated) != 3 || len(l.Unstamped) != 0 {
		t.Fatalf("lineage %+v", l)
	}
	if l.Clones[0].VMID != 310 || l.Outdated[0].VMID != 302 || l.Outdated[0].Build.Release != "0.8.0" ||
		l.Outdated[0].Behind != 100*24*time.Hour || l.Outdated[1].Behind != 40*24*time.Hour {
		t.Errorf("clones %+v, outdated %+v", l.Clones, l.Outdated)
	}
	r = e.run("clones", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &doc); r.code != 0 || err != nil || len(doc.Templates) != len(d.Templates) {
		t.Fatalf("clones --json (all): %v\n%s", err, r)
	}
	for _, l := range doc.Templates {
		if l.Template != tpl.Name && len(l.Clones)+len(l.Outdated)+len(l.Unstamped) != 0 {
			t.Errorf("%s has clones: %+v", l.Template, l)
		}
	}

	// An unknown template is a usage error naming the known ones.
	r = e.run("clones", "tpl-nope")
	if r.code != 2 || !strings.Contains(r.stderr, `no template "tpl-nope"`) || !strings.Contains(r.stderr, "tpl-ubuntu-22.04, ") {
		t.Errorf("clones tpl-nope:\n%s", r)
	}

	// status: 2/3, and the counts by age in JSON.
	r = e.run("status", "--direct", "--json")
	var rep session.StatusReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 0 || err != nil {
		t.Fatalf("status --direct --json: %v\n%s", err, r)
	}
	var u22 daemon.TemplateStatus
	for _, ts := range rep.Templates {
		if ts.Name == tpl.Name {
			u22 = ts
		} else if ts.ClonesCurrent+ts.ClonesOutdated != 0 {
			t.Errorf("%s counts clones: %+v", ts.Name, ts)
		}
	}
	wantAge := map[string]int{"lt_30d": 0, "30d_90d": 2, "90d_365d": 1, "gt_365d": 0}
	if u22.ClonesCurrent != 2 || u22.ClonesOutdated != 3 || !maps.Equal(u22.ClonesOutdatedByAge, wantAge) {
		t.Errorf("status of %s: %d/%d by age %v", tpl.Name, u22.ClonesCurrent, u22.ClonesOutdated, u22.ClonesOutdatedByAge)
	}
	r = e.run("status", "--direct")
	if r.code != 0 || !strings.Contains(r.stdout, "CLONES") || !regexp.MustCompile(`(?m)^tpl-ubuntu-22\.04 .* 2/3( |$)`).MatchString(r.stdout) {
		t.Errorf("status --direct:\n%s", r)
	}

	// The plan over the unchanged fleet: no change, one request.
	e.sim.ResetRequests()
	p, pr := e.planJSON()
	if pr.code != 0 || p.Summary.Keep != len(d.Templates) {
		t.Fatalf("plan with clones:\n%s", pr)
	}
	if reqs := e.sim.Requests(); len(reqs) != 1 || reqs[0].Path != "/cluster/resources" {
		t.Fatalf("a plan over an unchanged fleet with clones made %d requests: %+v", len(reqs), reqs)
	}
	if c := action(t, p, tpl.Name).Clones; c == nil || c.Current != 2 || c.Outdated != 3 || c.Oldest != "0.8.0" {
		t.Errorf("plan clones of %s: %+v", tpl.Name, c)
	}
}
