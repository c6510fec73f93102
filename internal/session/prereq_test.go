package session

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"templated/internal/plan"
	"templated/internal/proxmox"
	"templated/internal/pvesim"
	"templated/internal/state"
)

// TestPrerequisitesBlock: against a cluster that lacks what the builds
// need (testdata/doctor.yaml of the simulator), plan blocks each build with
// the reason that would have failed it, in a fixed number of requests.
func TestPrerequisitesBlock(t *testing.T) {
	seed, err := pvesim.LoadSeed("../pvesim/testdata/doctor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sim, d := simWorld(t, seed)
	var ts []state.Template
	for _, tp := range d.Templates {
		switch tp.Name {
		case "tpl-ubuntu-24.04":
			tp.Storage = "scratch" // holds ISOs only
		case "tpl-rocky-9":
			continue
		}
		ts = append(ts, tp)
	}
	d.Templates = ts

	for _, tc := range []struct {
		token string
		want  map[string][]string // template → reason codes before the wanted build's
	}{
		{"templated@pve!ok", map[string][]string{
			"tpl-ubuntu-22.04": {plan.ReasonCloneSourceMissing},
			"tpl-ubuntu-24.04": {plan.ReasonStorageUnfit},
			"tpl-win2022":      {plan.ReasonISOMissing, plan.ReasonISOMissing},
		}},
		{"templated@pve!weak", map[string][]string{
			"tpl-ubuntu-22.04": {plan.ReasonCloneSourceMissing, plan.ReasonPermissionMissing},
			"tpl-ubuntu-24.04": {plan.ReasonStorageUnfit, plan.ReasonPermissionMissing},
			"tpl-win2022":      {plan.ReasonISOMissing, plan.ReasonISOMissing, plan.ReasonPermissionMissing},
		}},
	} {
		secret := map[string]string{"templated@pve!ok": "6f0f8a52-0000-4000-8000-00000000000a",
			"templated@pve!weak": "6f0f8a52-0000-4000-8000-00000000000b"}[tc.token]
		cl, err := proxmox.New(proxmox.Config{URL: sim.URL(), TokenID: tc.token, TokenSecret: proxmox.Secret(secret)},
			proxmox.Options{PollInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		sess, err := OpenReader(Settings{DesiredPath: repoDesired, StateDir: t.TempDir(), Cluster: cl, Tools: &fakeTools{}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := sess.Plan(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range p.Actions {
			var codes []string
			for _, r := range a.Reasons {
				if !strings.HasPrefix(r.Message, "wanted a ") {
					codes = append(codes, r.Code)
				}
			}
			if a.Kind != plan.Blocked || !slices.Equal(codes, tc.want[a.Template]) {
				t.Errorf("%s: %s: %s %v, want blocked by %v", tc.token, a.Template, a.Kind, a.Reasons, tc.want[a.Template])
			}
		}
		// The guest list, the node's storages, the ISO storage's content,
		// the privileges and PVE's version (the agent's privilege differs
		// between 8 and 9): five requests for three templates.
		if n := cl.Stats().Requests; n != 5 {
			t.Errorf("%s: %d requests, want 5", tc.token, n)
		}
	}
}
