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

// imageWorld is the doctor seed's cluster (PVE version v, with a storage
// "imports" that holds import content when v has it, and the ok token's
// role granted Sys.AccessNetwork, which download-url needs, when grant is
// set) and the repository's
// desired file, whose templates start from declared images: Ubuntu 22.04
// from a cloud image on local (iso only), Rocky from one on imports, the
// Windows installer and drivers from ISOs on local. The checksum files
// come from a loopback mirror. It returns the plan and the client.
func imageWorld(t *testing.T, v string, grant bool) (plan.Plan, *proxmox.Client) {
	t.Helper()
	seed, err := pvesim.LoadSeed("../pvesim/testdata/doctor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	seed.Version = v
	if !strings.HasPrefix(v, "8.2") {
		seed.Storages = append(seed.Storages, pvesim.StorageSpec{Name: "imports", Type: "dir", Content: []string{"iso", "import"}, Size: 1 << 36})
	}
	for i, r := range seed.Access.Roles {
		if r.Name == "TemplatedBuilder" && grant {
			seed.Access.Roles[i].Privs = append(slices.Clone(r.Privs), "Sys.AccessNetwork")
		}
	}
	sim, d := simWorld(t, seed)
	srv, _ := startImageMirror(t)
	pinned := srv.PinnedChecksums()
	d.VMIDs.Bases = state.Range{First: 9800, Last: 9899}
	jammy := "https://cloud-images.ubuntu.com/releases/jammy/release/"
	d.Images = []state.Image{
		{Name: "ubuntu-22.04-cloud", Kind: state.ImageCloud, URL: jammy + "{file}", ChecksumURL: jammy + "SHA256SUMS",
			File: "jammy-server-cloudimg-amd64.img", Format: "qcow2", Storage: "local", Nodes: []string{"pve1"}},
		{Name: "rocky-9-cloud", Kind: state.ImageCloud, URL: rockyDir + "{file}", ChecksumURL: rockySums,
			File: "Rocky-9-GenericCloud-Base-*.x86_64.qcow2", Format: "qcow2", Storage: "imports", Nodes: []string{"pve1"}},
		{Name: "win2022-eval", Kind: state.ImageISO, URL: winISO, Checksum: pinned[winISO], File: "SERVER_EVAL_x64FRE_en-us.iso",
			Storage: "local", Nodes: []string{"pve1"}},
		{Name: "virtio-win", Kind: state.ImageISO, URL: virtioISO, Checksum: pinned[virtioISO], File: "virtio-win-0.1.271.iso",
			Storage: "local", Nodes: []string{"pve1"}},
	}
	for i, tp := range d.Templates {
		switch tp.Name {
		case "tpl-ubuntu-22.04":
			d.Templates[i].Image = "ubuntu-22.04-cloud"
		case "tpl-rocky-9":
			d.Templates[i].Image = "rocky-9-cloud"
		case "tpl-win2022":
			d.Templates[i].Image, d.Templates[i].ExtraImages = "win2022-eval", []string{"virtio-win"}
		}
	}
	cl, err := proxmox.New(proxmox.Config{URL: sim.URL(), TokenID: "templated@pve!ok", TokenSecret: proxmox.Secret("6f0f8a52-0000-4000-8000-00000000000a")},
		proxmox.Options{PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvImageMirrors: srv.Mirrors()}
	sess, err := OpenReader(Settings{DesiredPath: repoDesired, StateDir: t.TempDir(), Cluster: cl, Tools: &fakeTools{},
		Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	p, err := sess.Plan(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	return p, cl
}

// unmetOf returns the prerequisite reasons of each action (the plan's
// reasons but its "wanted a ..." ones).
func unmetOf(p plan.Plan) map[string][]plan.Reason {
	out := map[string][]plan.Reason{}
	for _, a := range p.Actions {
		for _, r := range a.Reasons {
			switch r.Code {
			case plan.ReasonStorageUnfit, plan.ReasonISOMissing, plan.ReasonCloneSourceMissing, plan.ReasonPermissionMissing:
				out[a.Template] = append(out[a.Template], r)
			}
		}
	}
	return out
}

// TestPrerequisitesImages: templates that start from declared images are
// not blocked for the var file's ISOs or base VM (templated makes them),
// but an image's storage must hold its content: a cloud image on a storage
// without import content blocks its template, naming the image; images on
// fit storages block nothing. The checks still cost a fixed number of
// requests.
func TestPrerequisitesImages(t *testing.T) {
	p, cl := imageWorld(t, "9.0.10", true)
	got := unmetOf(p)
	if rs := got["tpl-ubuntu-22.04"]; len(rs) != 1 || rs[0].Code != plan.ReasonStorageUnfit ||
		!strings.Contains(rs[0].Message, "storage local on node pve1 does not hold import") || !strings.Contains(rs[0].Message, "image ubuntu-22.04-cloud") {
		t.Errorf("tpl-ubuntu-22.04: %v, want one storage-unfit naming local's missing import content and the image", rs)
	}
	for _, name := range []string{"tpl-ubuntu-24.04", "tpl-rocky-9", "tpl-win2022"} {
		if rs := got[name]; len(rs) != 0 {
			t.Errorf("%s: %v, want no unmet prerequisite", name, rs)
		}
	}
	for _, a := range p.Actions {
		if blocked := a.Kind == plan.Blocked; blocked != (a.Template == "tpl-ubuntu-22.04") {
			t.Errorf("%s: %s %v", a.Template, a.Kind, a.Reasons)
		}
	}
	// The guest list, pve1's storages, the privileges and PVE's version:
	// no ISO storage is listed, every ISO being an image's.
	if n := cl.Stats().Requests; n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
}

// TestPrerequisitesImportNeedsPVE83: on PVE 8.2, which has no import
// content, the storage-unfit reason says so.
func TestPrerequisitesImportNeedsPVE83(t *testing.T) {
	p, _ := imageWorld(t, "8.2.7", true)
	for _, name := range []string{"tpl-ubuntu-22.04", "tpl-rocky-9"} {
		var found bool
		for _, r := range unmetOf(p)[name] {
			found = found || r.Code == plan.ReasonStorageUnfit && strings.Contains(r.Message, "PVE 8.2 has no import content: it needs PVE 8.3 or later")
		}
		if !found {
			t.Errorf("%s: %v, want storage-unfit saying PVE 8.2 has no import content", name, unmetOf(p)[name])
		}
	}
}

// TestPrerequisitesImagePrivileges: downloading an image needs privileges
// a build without images does not (doctor.BuildMissing is given the
// desired images): without Sys.AccessNetwork every template that starts
// from an image is blocked, naming it.
func TestPrerequisitesImagePrivileges(t *testing.T) {
	p, _ := imageWorld(t, "9.0.10", false)
	got := unmetOf(p)
	for _, name := range []string{"tpl-ubuntu-22.04", "tpl-rocky-9", "tpl-win2022"} {
		if !slices.ContainsFunc(got[name], func(r plan.Reason) bool {
			return r.Code == plan.ReasonPermissionMissing && strings.Contains(r.Message, "Sys.AccessNetwork on /nodes/pve1")
		}) {
			t.Errorf("%s: %v, want permission-missing naming Sys.AccessNetwork", name, got[name])
		}
	}
	if rs := got["tpl-ubuntu-24.04"]; len(rs) != 0 {
		t.Errorf("tpl-ubuntu-24.04 (no image): %v, want nothing unmet", rs)
	}
}
