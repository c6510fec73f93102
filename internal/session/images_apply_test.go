package session

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"templated/internal/journal"
	"templated/internal/ledger"
	"templated/internal/mirror"
	"templated/internal/plan"
	"templated/internal/reconcile"
	"templated/internal/state"
)

// reconcileOK runs one reconcile and fails the test on any failure.
func (h *harness) reconcileOK(t *testing.T, sess *Session) Result {
	t.Helper()
	res, err := sess.Reconcile(context.Background(), h.d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f := res.Report.Failed(); len(f) != 0 {
		t.Fatalf("failures: %+v", f)
	}
	return res
}

// provenanceImages returns the image dependencies of a build's signed
// provenance, name → sha256.
func (h *harness) provenanceImages(t *testing.T, e ledger.Entry) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.set.EvidenceDir, e.Template, e.BuildID, ledger.FileProvenance))
	if err != nil {
		t.Fatal(err)
	}
	var env struct{ Payload string }
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st ledger.Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range st.Predicate.BuildDefinition.ResolvedDependencies {
		if name, ok := strings.CutPrefix(d.Name, "image:"); ok {
			out[name] = d.Digest["sha256"]
			if !strings.HasPrefix(d.URI, "https://") {
				t.Errorf("image %s: uri %q, want the vendor's URL", name, d.URI)
			}
		}
	}
	return out
}

// lastBuild is the newest build.finished entry of template.
func (h *harness) lastBuild(t *testing.T, template string) ledger.Entry {
	t.Helper()
	var last ledger.Entry
	for _, e := range h.entries(t, ledger.KindBuildFinished) {
		if e.Template == template {
			last = e
		}
	}
	if last.BuildID == "" {
		t.Fatalf("no build of %s in the ledger", template)
	}
	return last
}

// TestImagesFromNothing: on a cluster with none of the images, apply has
// each downloaded once (verified by the node), makes the base VMs of the
// clone templates, builds every template from them, and the evidence
// names the image each was built from. A second run does nothing.
func TestImagesFromNothing(t *testing.T) {
	h := newHarness(t)
	sess := h.open(t)
	res := h.reconcileOK(t, sess)
	if res.Plan.Summary.Create != 4 || len(res.Plan.Images) != 5 {
		t.Fatalf("plan %+v, images %+v", res.Plan.Summary, res.Plan.Images)
	}
	for _, im := range res.Plan.Images {
		if !im.New || len(im.Templates) != 1 || im.Error != "" {
			t.Errorf("image %+v", im)
		}
	}
	fetches := h.entries(t, ledger.Kind(reconcile.EventImageFetch))
	bases := h.entries(t, ledger.Kind(reconcile.EventImageBase))
	if len(fetches) != 5 || len(bases) != 3 {
		t.Fatalf("%d downloads, %d bases recorded; want 5 and 3", len(fetches), len(bases))
	}
	for _, e := range fetches {
		if e.Result != "success" || !strings.Contains(e.Detail["task_log"], "TASK OK") && e.Detail["task_log"] == "" {
			t.Errorf("download entry %+v", e)
		}
	}
	for _, tp := range h.d.Templates {
		e := h.lastBuild(t, tp.Name)
		want := res.Plan.Actions[slices.IndexFunc(res.Plan.Actions, func(a plan.Action) bool { return a.Template == tp.Name })].Images
		got := h.provenanceImages(t, e)
		if len(got) != len(want) || len(e.Images) != len(want) {
			t.Fatalf("%s: provenance images %v, entry %+v, want %+v", tp.Name, got, e.Images, want)
		}
		for _, u := range want {
			if "sha256:"+got[u.Name] != u.Checksum {
				t.Errorf("%s: provenance has %s %s, want %s", tp.Name, u.Name, got[u.Name], u.Checksum)
			}
		}
	}
	again := h.reconcileOK(t, sess)
	if again.Plan.HasChanges() || len(h.entries(t, ledger.Kind(reconcile.EventImageFetch))) != 5 {
		t.Fatalf("second run: %+v", again.Plan.Summary)
	}
}

// TestNewReleaseRebuildsDependents: the vendor publishes a new noble
// image; the plan shows the image update and rebuilds exactly the
// template built from it, and its provenance names the new digest.
func TestNewReleaseRebuildsDependents(t *testing.T) {
	h := newHarness(t)
	h.set.ImageInterval = -1 // ask the vendor on every run
	sess := h.open(t)
	h.reconcileOK(t, sess)
	digest, err := h.mirror.Publish(nobleImg, "20261205")
	if err != nil {
		t.Fatal(err)
	}
	res := h.reconcileOK(t, sess)
	var rebuilt []string
	for _, a := range res.Plan.Actions {
		if a.Kind.Changes() {
			rebuilt = append(rebuilt, a.Template)
			if a.Reasons[0].Code != plan.ReasonImageUpdated {
				t.Errorf("%s: reasons %+v", a.Template, a.Reasons)
			}
		}
	}
	if !slices.Equal(rebuilt, []string{"tpl-ubuntu-24.04"}) {
		t.Fatalf("rebuilt %v, want only tpl-ubuntu-24.04", rebuilt)
	}
	i := slices.IndexFunc(res.Plan.Images, func(im plan.ImageAction) bool { return im.Name == "ubuntu-24.04-cloud" })
	if im := res.Plan.Images[i]; !im.New || im.Checksum != "sha256:"+digest || !slices.Equal(im.Templates, rebuilt) {
		t.Fatalf("image action %+v", im)
	}
	if got := h.provenanceImages(t, h.lastBuild(t, "tpl-ubuntu-24.04")); got["ubuntu-24.04-cloud"] != digest {
		t.Fatalf("provenance names %v, want the new digest %s", got, digest)
	}
	if after := h.reconcileOK(t, sess); after.Plan.HasChanges() {
		t.Fatalf("not converged: %+v", after.Plan.Summary)
	}
}

// TestImageFaultsLeaveTemplates: a new release whose download 404s, is
// cut halfway or is corrupt (the node's checksum check fails) leaves the
// template in place, is recorded, and the next run, once the vendor
// serves the file, converges.
func TestImageFaultsLeaveTemplates(t *testing.T) {
	for _, fault := range []mirror.Fault{mirror.FaultNotFound, mirror.FaultCut, mirror.FaultCorrupt} {
		t.Run(fault.String(), func(t *testing.T) {
			h := newHarness(t)
			h.set.ImageInterval = -1
			sess := h.open(t)
			h.reconcileOK(t, sess)
			before := h.lastBuild(t, "tpl-ubuntu-24.04")
			if _, err := h.mirror.Publish(nobleImg, "20261205"); err != nil {
				t.Fatal(err)
			}
			h.mirror.SetFault(nobleImg, fault)
			res, err := sess.Reconcile(context.Background(), h.d, Options{})
			if err != nil {
				t.Fatal(err)
			}
			f := res.Report.Failed()
			if len(f) != 1 || f[0].Template != "tpl-ubuntu-24.04" || f[0].Step != journal.StepImages {
				t.Fatalf("failures %+v", f)
			}
			if e := h.lastBuild(t, "tpl-ubuntu-24.04"); e.BuildID != before.BuildID {
				t.Fatalf("a build ran without its image: %+v", e)
			}
			g, ok := h.c.VM(9001)
			if s, owned := state.StampFromDescription(g.Description); !ok || !g.Template || !owned || s.BuildID != before.BuildID {
				t.Fatalf("VMID 9001 after the failed download: %+v", g)
			}
			fetches := h.entries(t, ledger.Kind(reconcile.EventImageFetch))
			if last := fetches[len(fetches)-1]; last.Result != "failure" || last.Error == "" || last.Detail["image"] != "ubuntu-24.04-cloud" {
				t.Fatalf("failure not recorded: %+v", last)
			}
			h.mirror.SetFault(nobleImg, mirror.FaultNone)
			h.reconcileOK(t, sess)
			if e := h.lastBuild(t, "tpl-ubuntu-24.04"); e.BuildID == before.BuildID || e.Result != "success" {
				t.Fatalf("the retry did not rebuild: %+v", e)
			}
		})
	}
}
