package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"templated/internal/journal"
	"templated/internal/plan"
	"templated/internal/proxmox/proxmoxfake"
	"templated/internal/state"
)

// fakeImages is an ImageStore over the fake cluster: volumes in memory,
// base VMs as fake guests.
type fakeImages struct {
	c         *proxmoxfake.Cluster
	mu        sync.Mutex
	volumes   map[string]bool // "node/volid"
	downloads []string        // "node volid", in order
	bases     []int
	fail      map[string]error // image name → download error
}

func (f *fakeImages) Volumes(_ context.Context, node, storage, content string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.volumes {
		if n, volid, _ := strings.Cut(k, "/"); n == node && strings.HasPrefix(volid, storage+":"+content+"/") {
			out = append(out, volid)
		}
	}
	return out, nil
}

func (f *fakeImages) Download(_ context.Context, node string, r state.ResolvedImage) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.downloads = append(f.downloads, node+" "+r.VolumeID())
	if err := f.fail[r.Name]; err != nil {
		return []string{"downloading " + r.FetchURL, "TASK ERROR: " + err.Error()}, err
	}
	if f.volumes == nil {
		f.volumes = map[string]bool{}
	}
	f.volumes[node+"/"+r.VolumeID()] = true
	return []string{"downloading " + r.FetchURL, "TASK OK"}, nil
}

func (f *fakeImages) CreateBase(_ context.Context, node string, vmid int, storage string, r state.ResolvedImage, s state.Stamp) error {
	f.mu.Lock()
	f.bases = append(f.bases, vmid)
	f.mu.Unlock()
	return f.c.Add(proxmoxfake.VM{VMID: vmid, Node: node, Name: r.BaseName(), Template: true, Cores: 1, Sockets: 1, MemoryMiB: 512,
		Tags: s.Tags(), Description: s.Description(), Disks: []state.Disk{{Key: "scsi0", Volume: fmt.Sprintf("%s:base-%d-disk-0", storage, vmid), SizeGB: 2}}})
}

func (f *fakeImages) DeleteVolume(_ context.Context, node, volid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.volumes, node+"/"+volid)
	return nil
}

func resolvedImage(name, kind, file, hexByte string) state.ResolvedImage {
	return state.ResolvedImage{Name: name, Kind: kind, File: file, URL: "https://vendor.example/" + file,
		FetchURL: "http://127.0.0.1:9/" + file, Checksum: "sha256:" + strings.Repeat(hexByte, 32),
		Storage: "local", Nodes: []string{"pve1"}, Format: "qcow2"}
}

// imageHarness: two clone templates built from one cloud image and an
// ISO template from an installer and a driver ISO.
func imageHarness(t *testing.T) (*harness, *fakeImages) {
	t.Helper()
	a, b := tmpl("tpl-ubuntu-24.04", 9001, "1.0.0"), tmpl("tpl-ubuntu-24.04-min", 9003, "1.0.0")
	a.Image, b.Image = "noble", "noble"
	w := tmpl("tpl-win2022", 9100, "1.0.0")
	w.Build, w.Image, w.ExtraImages = "iso", "win", []string{"virtio"}
	h := newHarness(t, a, b, w)
	h.d.VMIDs.Bases = state.Range{First: 9800, Last: 9899}
	imgs := &fakeImages{c: h.c, fail: map[string]error{}}
	h.e.Images = imgs
	h.e.Installation = "inst1"
	h.e.Resolved = map[string]state.ResolvedImage{
		"noble":  resolvedImage("noble", state.ImageCloud, "noble-server-cloudimg-amd64.img", "3f"),
		"win":    resolvedImage("win", state.ImageISO, "SERVER_EVAL_x64FRE_en-us.iso", "3e"),
		"virtio": resolvedImage("virtio", state.ImageISO, "virtio-win-0.1.271.iso", "bb"),
	}
	return h, imgs
}

// applyImages plans (the planner given what the images resolved to) and
// applies.
func (h *harness) applyImages(t *testing.T) (plan.Plan, Report) {
	t.Helper()
	guests, err := h.c.ListGuests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(h.d.Templates))
	for _, x := range h.d.Templates {
		names = append(names, x.Name)
	}
	p := Plan(h.d, state.Observed{Guests: guests, Inputs: inputs(names...), Images: h.e.Resolved}, now)
	rep, err := h.e.Apply(context.Background(), h.d, p)
	if err != nil {
		t.Fatal(err)
	}
	return p, rep
}

func TestApplyMakesImagesPresent(t *testing.T) {
	h, imgs := imageHarness(t)
	_, rep := h.applyImages(t)
	if f := rep.Failed(); len(f) != 0 {
		t.Fatalf("failures: %+v", f)
	}
	noble, win, virtio := h.e.Resolved["noble"], h.e.Resolved["win"], h.e.Resolved["virtio"]
	// Each image once, though two builds need the cloud image; one base.
	slices.Sort(imgs.downloads)
	want := []string{"pve1 " + win.VolumeID(), "pve1 " + virtio.VolumeID(), "pve1 " + noble.VolumeID()}
	slices.Sort(want)
	if !slices.Equal(imgs.downloads, want) || len(imgs.bases) != 1 || imgs.bases[0] != 9800 {
		t.Fatalf("downloads %v, bases %v", imgs.downloads, imgs.bases)
	}
	base, ok := h.c.VM(9800)
	bs, owned := state.StampFromTags(base.Tags)
	if !ok || base.Name != noble.BaseName() || !owned || bs.Role != state.RoleBase || !bs.HasImage(noble.Checksum) || bs.Installation != "inst1" {
		t.Fatalf("base VM %+v stamp %+v", base, bs)
	}
	// Packer got the volumes and the base; the stamps name the images.
	for _, req := range h.b.reqs {
		switch req.Template.Name {
		case "tpl-win2022":
			if len(req.Images) != 2 || req.Images[0].Name != "win" || req.Images[1].Name != "virtio" || req.Base != "" {
				t.Errorf("win build request: images %+v base %q", req.Images, req.Base)
			}
		default:
			if len(req.Images) != 1 || req.Base != noble.BaseName() {
				t.Errorf("%s build request: images %+v base %q", req.Template.Name, req.Images, req.Base)
			}
		}
	}
	if s := h.assertTemplate(t, 9100, "tpl-win2022", "1.0.0"); !s.HasImage(win.Checksum) || !s.HasImage(virtio.Checksum) {
		t.Errorf("win stamp images %v", s.Images)
	}
	if s := h.assertTemplate(t, 9001, "tpl-ubuntu-24.04", "1.0.0"); !s.HasImage(noble.Checksum) {
		t.Errorf("ubuntu stamp images %v", s.Images)
	}
	var fetched, based int
	for _, ev := range h.rec.events {
		switch ev.Kind {
		case EventImageFetch:
			fetched++
			if ev.Result != "success" || len(ev.Log) == 0 || ev.Node != "pve1" {
				t.Errorf("fetch event %+v", ev)
			}
		case EventImageBase:
			based++
		}
	}
	if fetched != 3 || based != 1 {
		t.Errorf("events: %d fetch, %d base", fetched, based)
	}
	if len(h.rec.finished) != 3 || len(h.rec.finished[0].Images) == 0 {
		t.Errorf("build records: %+v", h.rec.finished)
	}

	// A second run over the result downloads nothing and builds nothing.
	imgs.downloads = nil
	p, rep := h.applyImages(t)
	if p.HasChanges() || len(rep.Results) != 0 || len(imgs.downloads) != 0 {
		t.Fatalf("second run: %+v, %d results, downloads %v", p.Summary, len(rep.Results), imgs.downloads)
	}
}

// TestImageFailureLeavesTemplates: a download that fails (a checksum
// mismatch here) fails the builds that need the image before anything is
// allocated, leaves their templates in place, is recorded, and the next
// run tries again.
func TestImageFailureLeavesTemplates(t *testing.T) {
	h, imgs := imageHarness(t)
	h.seedTemplate(t, "tpl-ubuntu-24.04", 9001, "0.9.0", inputsA, now.Add(-48*60*60*1e9))
	imgs.fail["noble"] = errors.New("download checksum mismatch")
	_, rep := h.applyImages(t)
	failed := map[string]Result{}
	for _, r := range rep.Failed() {
		failed[r.Template] = r
	}
	if len(failed) != 2 || failed["tpl-ubuntu-24.04"].Step != journal.StepImages || !strings.Contains(failed["tpl-ubuntu-24.04"].Err.Error(), "checksum mismatch") {
		t.Fatalf("failed: %+v", failed)
	}
	h.assertTemplate(t, 9001, "tpl-ubuntu-24.04", "0.9.0")
	if _, ok := h.c.VM(9003); ok {
		t.Error("a template was made without its image")
	}
	h.assertTemplate(t, 9100, "tpl-win2022", "1.0.0") // unaffected
	h.assertClean(t)
	var recorded bool
	for _, ev := range h.rec.events {
		recorded = recorded || (ev.Kind == EventImageFetch && ev.Image == "noble" && ev.Result == "failure" && strings.Contains(ev.Error, "mismatch"))
	}
	if !recorded || len(imgs.bases) != 0 {
		t.Fatalf("failure recorded %v, bases %v", recorded, imgs.bases)
	}

	delete(imgs.fail, "noble")
	_, rep = h.applyImages(t)
	if f := rep.Failed(); len(f) != 0 {
		t.Fatalf("retry: %+v", f)
	}
	h.assertTemplate(t, 9001, "tpl-ubuntu-24.04", "1.0.0")
	h.assertTemplate(t, 9003, "tpl-ubuntu-24.04-min", "1.0.0")
}

// TestHalfMadeBaseIsReplaced: a base VM this installation began but never
// converted (a crash during its creation) is removed and made again; one
// that is not templated's is never touched.
func TestHalfMadeBaseIsReplaced(t *testing.T) {
	h, imgs := imageHarness(t)
	noble := h.e.Resolved["noble"]
	s := state.Stamp{Template: noble.BaseName(), Role: state.RoleBase, Installation: "inst1", Images: []string{noble.Checksum}}
	if err := h.c.Add(proxmoxfake.VM{VMID: 9800, Node: "pve1", Name: noble.BaseName(), Tags: s.Tags(), Description: s.Description()}); err != nil {
		t.Fatal(err)
	}
	if _, rep := h.applyImages(t); len(rep.Failed()) != 0 {
		t.Fatalf("failures: %+v", rep.Failed())
	}
	if v, _ := h.c.VM(9800); !v.Template || len(imgs.bases) != 1 {
		t.Fatalf("base at 9800: %+v, bases made %v", v, imgs.bases)
	}

	h, imgs = imageHarness(t)
	if err := h.c.Add(proxmoxfake.VM{VMID: 9800, Node: "pve1", Name: noble.BaseName()}); err != nil {
		t.Fatal(err)
	}
	_, rep := h.applyImages(t)
	if len(rep.Failed()) != 2 || len(imgs.bases) != 0 {
		t.Fatalf("a foreign guest with the base's name: failures %+v, bases %v", rep.Failed(), imgs.bases)
	}
	if v, ok := h.c.VM(9800); !ok || v.Template {
		t.Fatalf("the foreign guest was touched: %+v", v)
	}
}

// TestImageChangedSincePlan: the executor builds only from the digest
// the plan showed.
func TestImageChangedSincePlan(t *testing.T) {
	h, imgs := imageHarness(t)
	guests, _ := h.c.ListGuests(context.Background())
	p := Plan(h.d, state.Observed{Guests: guests, Inputs: inputs("tpl-ubuntu-24.04", "tpl-ubuntu-24.04-min", "tpl-win2022"), Images: h.e.Resolved}, now)
	h.e.Resolved["noble"] = resolvedImage("noble", state.ImageCloud, "noble-server-cloudimg-amd64.img", "44")
	rep, err := h.e.Apply(context.Background(), h.d, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failed()) != 2 || !strings.Contains(rep.Failed()[0].Err.Error(), "not the plan's") || len(imgs.bases) != 0 {
		t.Fatalf("failures %+v", rep.Failed())
	}
}

// TestSupersededImagesCollected: a new release rebuilds the templates;
// the old volume and base stay while a previous version kept for
// rollback was built from them, and go once none is; a volume this
// installation did not download is never touched.
func TestSupersededImagesCollected(t *testing.T) {
	h, imgs := imageHarness(t)
	h.d.Templates = h.d.Templates[:1] // tpl-ubuntu-24.04, keep_previous 1
	delete(h.e.Resolved, "win")
	delete(h.e.Resolved, "virtio")
	imgs.volumes = map[string]bool{"pve1/local:import/hand-uploaded.qcow2": true}
	release := func(hexByte string) state.ResolvedImage {
		t.Helper()
		r := resolvedImage("noble", state.ImageCloud, "noble-server-cloudimg-amd64.img", hexByte)
		h.e.Resolved["noble"] = r
		if _, rep := h.applyImages(t); len(rep.Failed()) != 0 || len(rep.Results) != 1 {
			t.Fatalf("release %s: %+v", hexByte, rep)
		}
		return r
	}
	has := func(r state.ResolvedImage) (vol, base bool) {
		vol = imgs.volumes["pve1/"+r.VolumeID()]
		guests, _ := h.c.ListGuests(context.Background())
		base = slices.ContainsFunc(guests, func(g state.Guest) bool { return g.Name == r.BaseName() })
		return vol, base
	}
	r1 := release("11")
	r2 := release("22")
	if vol, base := has(r1); !vol || !base {
		t.Fatalf("release 1 removed while the previous version was built from it: volume %v base %v", vol, base)
	}
	// A VM cloned from the release-1 template carries its tags; it does
	// not keep release 1's files.
	s1 := state.Stamp{Template: "tpl-ubuntu-24.04", Release: "1.0.0", Role: state.RoleTemplate, Images: []string{r1.Checksum}}
	if err := h.c.Add(proxmoxfake.VM{VMID: 500, Node: "pve1", Name: "rke2-1", Tags: s1.Tags(), Description: s1.Description()}); err != nil {
		t.Fatal(err)
	}
	r3 := release("33")
	if vol, base := has(r1); vol || base {
		t.Fatalf("release 1 kept after its last template was pruned: volume %v base %v", vol, base)
	}
	for _, r := range []state.ResolvedImage{r2, r3} {
		if vol, base := has(r); !vol || !base {
			t.Fatalf("%s: volume %v base %v", r.Checksum, vol, base)
		}
	}
	if !imgs.volumes["pve1/local:import/hand-uploaded.qcow2"] {
		t.Fatal("a volume templated did not download was removed")
	}
	inv, _ := h.e.Journal.ImageVolumes()
	if len(inv) != 2 {
		t.Fatalf("inventory %+v", inv)
	}
	var removed []string
	for _, ev := range h.rec.events {
		if ev.Kind == EventImageRemove || ev.Kind == EventBaseRemove {
			removed = append(removed, ev.Kind)
		}
	}
	if len(removed) != 2 {
		t.Fatalf("removal events %v", removed)
	}
}
