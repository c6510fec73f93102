package main

// End-to-end tests of images as desired state: the built binary, the real
// Packer and the simulator, with the vendors' sites on a loopback mirror.

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"templated/internal/ledger"
	"templated/internal/mirror"
	"templated/internal/pvesim"
)

// emptySeed is the default cluster without installer ISOs and without
// base VMs: nothing a build starts from is there.
func emptySeed() *pvesim.Seed {
	s := pvesim.DefaultSeed()
	s.ISOs = nil
	s.Guests = slices.DeleteFunc(s.Guests, func(g pvesim.GuestSpec) bool { return strings.HasPrefix(g.Name, "base-") })
	return s
}

// provenanceImages reads the image dependencies (name → sha256) of the
// newest build of template from its signed provenance.
func (e *e2e) provenanceImages(template string) map[string]string {
	e.t.Helper()
	entries, err := ledger.ReadEntries(e.evidenceDir())
	if err != nil {
		e.t.Fatal(err)
	}
	var last ledger.Entry
	for _, x := range entries {
		if x.Kind == ledger.KindBuildFinished && x.Template == template {
			last = x
		}
	}
	b, err := os.ReadFile(filepath.Join(e.evidenceDir(), template, last.BuildID, ledger.FileProvenance))
	if err != nil {
		e.t.Fatal(err)
	}
	var env struct{ Payload string }
	if err := json.Unmarshal(b, &env); err != nil {
		e.t.Fatalf("provenance of %s: %v", template, err)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	var st ledger.Statement
	if err == nil {
		err = json.Unmarshal(payload, &st)
	}
	if err != nil {
		e.t.Fatalf("provenance of %s: %v", template, err)
	}
	out := map[string]string{}
	for _, d := range st.Predicate.BuildDefinition.ResolvedDependencies {
		if name, ok := strings.CutPrefix(d.Name, "image:"); ok {
			out[name] = d.Digest["sha256"]
		}
	}
	return out
}

// TestImagesE2E: from a simulator with no ISO and no base VM, apply of the
// default desired file (its vendors on the loopback mirror) has the node
// download and verify every image, makes the base VMs, and builds every
// template with the real Packer. The vendor then publishes a new Ubuntu
// 24.04 cloud image: plan shows the image and rebuilds exactly the
// template built from it, apply converges, and the provenance names the
// new digest.
func TestImagesE2E(t *testing.T) {
	e := newE2E(t, true, pvesim.Options{Seed: emptySeed()})
	e.env = append(e.env, "TEMPLATED_IMAGE_INTERVAL=0") // ask the mirror on every run
	e.initLedger()
	e.apply(0, "--parallel", "4")
	e.settled(allTemplates...)
	d := e.desired()
	var downloaded []string
	for _, v := range e.sim.Cluster().Volumes("pve1", "local") {
		if v.Content == "iso" || v.Content == "import" {
			downloaded = append(downloaded, v.Volid)
		}
	}
	if len(downloaded) != len(d.Images) {
		t.Fatalf("volumes on local: %v, want one per image (%d)", downloaded, len(d.Images))
	}
	bases := e.inRange(d.VMIDs.Bases)
	if len(bases) != len(linuxTemplates) {
		t.Fatalf("base VMs %+v, want one per clone template", bases)
	}
	for _, name := range allTemplates {
		tp, _ := d.Template(name)
		want := e.imageChecksums(d, tp)
		s := e.template(name)
		got := e.provenanceImages(name)
		if len(got) != len(want) {
			t.Fatalf("%s: provenance images %v, want %v", name, got, want)
		}
		for _, c := range want {
			if !s.HasImage(c) || !slices.Contains(mapValues(got), strings.TrimPrefix(c, "sha256:")) {
				t.Errorf("%s: stamp %v, provenance %v; want %s", name, s.Images, got, c)
			}
		}
	}
	if code := e.planExit(); code != 0 {
		t.Fatalf("plan after apply: exit %d", code)
	}

	digest, err := e.mirror.Publish(nobleImage, "20261205")
	if err != nil {
		t.Fatal(err)
	}
	r := e.run("plan")
	if r.code != 0 || !strings.Contains(r.stdout, "+ image ubuntu-24.04-cloud noble-server-cloudimg-amd64.img sha256:"+digest[:12]) ||
		!strings.Contains(r.stdout, "image-updated") {
		t.Fatalf("plan after the new release:\n%s", r)
	}
	before := map[string]string{}
	for _, name := range allTemplates {
		before[name] = e.template(name).BuildID
	}
	e.apply(0)
	for _, name := range allTemplates {
		rebuilt := e.template(name).BuildID != before[name]
		if rebuilt != (name == "tpl-ubuntu-24.04") {
			t.Errorf("%s rebuilt: %v", name, rebuilt)
		}
	}
	if got := e.provenanceImages("tpl-ubuntu-24.04"); got["ubuntu-24.04-cloud"] != digest {
		t.Fatalf("provenance after the new release: %v, want %s", got, digest)
	}
	if code := e.planExit(); code != 0 {
		t.Fatalf("plan after the second apply: exit %d", code)
	}
	e.settled(allTemplates...)
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestImageKilledMidDownload: templated killed (SIGKILL) while the node
// downloads an image leaves the template in place; the next apply
// downloads again and converges.
func TestImageKilledMidDownload(t *testing.T) {
	e := newE2E(t, true, pvesim.Options{Seed: emptySeed()})
	e.keepTemplates(nil, "tpl-ubuntu-24.04")
	e.initLedger()
	hang := e.sim.Faults().MustAdd(pvesim.Fault{Method: "POST", Path: "/nodes/*/storage/*/download-url", TaskHang: true, Count: 1})
	p := e.start("apply", "--auto-approve")
	deadline := time.Now().Add(2 * time.Minute)
	for e.sim.Faults().Hits(hang) == 0 {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the download never started:\n%s", p.res)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // templated waits on the task
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if _, ok := e.sim.Cluster().Guest(9001); ok {
		t.Fatal("a template appeared without its image")
	}
	e.apply(0)
	e.settled("tpl-ubuntu-24.04")
	d := e.desired()
	tp, _ := d.Template("tpl-ubuntu-24.04")
	if s := e.template("tpl-ubuntu-24.04"); !s.HasImage(e.imageChecksums(d, tp)[0]) {
		t.Fatalf("stamp %+v", s)
	}
}

// nobleImage is the vendor's URL of the Ubuntu 24.04 cloud image.
const nobleImage = "https://cloud-images.ubuntu.com/releases/noble/release/noble-server-cloudimg-amd64.img"

// TestImageFaultsE2E: a new vendor release that the node cannot fetch (a
// 404, a connection cut halfway, bytes that fail the node's checksum
// check) leaves the template in place and is recorded with the node's
// task log, and the next run, once the vendor serves the file, rebuilds
// from it.
func TestImageFaultsE2E(t *testing.T) {
	e := newE2E(t, true, pvesim.Options{Seed: emptySeed()})
	e.keepTemplates(nil, "tpl-ubuntu-24.04")
	e.env = append(e.env, "TEMPLATED_IMAGE_INTERVAL=0")
	e.initLedger()
	e.apply(0)
	before := e.template("tpl-ubuntu-24.04")
	digest, err := e.mirror.Publish(nobleImage, "20261205")
	if err != nil {
		t.Fatal(err)
	}
	for _, fault := range []mirror.Fault{mirror.FaultNotFound, mirror.FaultCut, mirror.FaultCorrupt} {
		e.mirror.SetFault(nobleImage, fault)
		r := e.run("apply", "--auto-approve")
		if r.code != 1 {
			t.Fatalf("%s: apply exit %d, want 1:\n%s", fault, r.code, r)
		}
		if s := e.template("tpl-ubuntu-24.04"); s.BuildID != before.BuildID {
			t.Fatalf("%s: VMID 9001 holds build %s, want the untouched %s", fault, s.BuildID, before.BuildID)
		}
		e.noStaging()
		entries, err := ledger.ReadEntries(e.evidenceDir())
		if err != nil {
			t.Fatal(err)
		}
		var last ledger.Entry
		for _, x := range entries {
			if x.Kind == "image.fetch" {
				last = x
			}
		}
		if last.Result != "failure" || last.Error == "" || last.Detail["image"] != "ubuntu-24.04-cloud" {
			t.Fatalf("%s: the failed download is not recorded: %+v", fault, last)
		}
	}
	e.mirror.SetFault(nobleImage, mirror.FaultNone)
	e.apply(0)
	if s := e.template("tpl-ubuntu-24.04"); s.BuildID == before.BuildID {
		t.Fatal("the run after the faults did not rebuild")
	}
	if got := e.provenanceImages("tpl-ubuntu-24.04"); got["ubuntu-24.04-cloud"] != digest {
		t.Fatalf("provenance after the faults: %v, want %s", got, digest)
	}
	e.settled("tpl-ubuntu-24.04")
}
