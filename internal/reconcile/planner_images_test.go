package reconcile

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"templated/internal/plan"
	"templated/internal/state"
)

// imageRelease returns the checksum of a vendor release of an image, as the
// vendor's checksum file states it.
func imageRelease(label string) string { return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(label))) }

var (
	nobleOld  = imageRelease("noble-20261120")
	nobleNew  = imageRelease("noble-20261201")
	winISO    = imageRelease("SERVER_EVAL_x64FRE_en-us-20348.169")
	virtioOld = imageRelease("virtio-win-0.1.262")
	virtioNew = imageRelease("virtio-win-0.1.266")
)

// imageDesired is the desired file of the image cases: a cloud image two
// clone templates start from, a Windows ISO with the virtio drivers as an
// extra image, and a template that names no image.
func imageDesired(ts ...state.Template) *state.Desired {
	d := desired(ts...)
	d.VMIDs.Bases = state.Range{First: 9800, Last: 9849}
	d.Images = []state.Image{
		{Name: "ubuntu-24.04-cloud", Kind: state.ImageCloud, URL: "https://cloud-images.ubuntu.com/noble/current/{file}",
			ChecksumURL: "https://cloud-images.ubuntu.com/noble/current/SHA256SUMS", File: "noble-server-cloudimg-amd64.img",
			Format: "qcow2", Storage: "local", Nodes: []string{"pve1"}},
		{Name: "windows-server-2022", Kind: state.ImageISO, URL: "https://software-static.download.prss.microsoft.com/sg/download/888969d5/SERVER_EVAL_x64FRE_en-us.iso",
			Checksum: winISO, File: "SERVER_EVAL_x64FRE_en-us.iso", Storage: "local", Nodes: []string{"pve1"}},
		{Name: "virtio-win", Kind: state.ImageISO, URL: "https://fedorapeople.org/groups/virt/virtio-win/direct-downloads/archive-virtio/{file}",
			ChecksumURL: "https://fedorapeople.org/groups/virt/virtio-win/direct-downloads/archive-virtio/SHA256SUMS", File: "virtio-win-*.iso",
			Storage: "local", Nodes: []string{"pve1"}},
	}
	return d
}

func ubuntu24(name string, vmid int) state.Template {
	t := tmpl(name, vmid, "1.0.0")
	t.OSVersion, t.Image = "24.04", "ubuntu-24.04-cloud"
	return t
}

func windowsTmpl() state.Template {
	t := tmpl("tpl-windows-2022", 9002, "1.0.0")
	t.OS, t.OSVersion, t.Packer, t.VarFile, t.Build = "windows", "2022", "windows", "windows/tpl-windows-2022.pkrvars.hcl", "iso"
	t.Image, t.ExtraImages = "windows-server-2022", []string{"virtio-win"}
	return t
}

// resolvedImages is what the images of imageDesired resolve to: the noble
// release noble, the virtio release virtio. The cloud image's URL goes
// through a mirror with credentials and a signed query, which the plan
// must not show.
func resolvedImages(noble, virtio string) map[string]state.ResolvedImage {
	virtioFile := "virtio-win-0.1.262.iso"
	if virtio == virtioNew {
		virtioFile = "virtio-win-0.1.266.iso"
	}
	return map[string]state.ResolvedImage{
		"ubuntu-24.04-cloud": {Name: "ubuntu-24.04-cloud", Kind: state.ImageCloud, File: "noble-server-cloudimg-amd64.img",
			URL:      "https://mirror:s3cret@cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img?sig=abc123#top",
			FetchURL: "https://mirror:s3cret@cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img?sig=abc123",
			Checksum: noble, Size: 612368384, SumsURL: "https://cloud-images.ubuntu.com/noble/current/SHA256SUMS",
			Storage: "local", Nodes: []string{"pve1"}, Format: "qcow2"},
		"windows-server-2022": {Name: "windows-server-2022", Kind: state.ImageISO, File: "SERVER_EVAL_x64FRE_en-us.iso",
			URL:      "https://software-static.download.prss.microsoft.com/sg/download/888969d5/SERVER_EVAL_x64FRE_en-us.iso",
			Checksum: winISO, Storage: "local", Nodes: []string{"pve1"}},
		"virtio-win": {Name: "virtio-win", Kind: state.ImageISO, File: virtioFile,
			URL:      "https://fedorapeople.org/groups/virt/virtio-win/direct-downloads/archive-virtio/" + virtioFile,
			Checksum: virtio, SumsURL: "https://fedorapeople.org/groups/virt/virtio-win/direct-downloads/archive-virtio/SHA256SUMS",
			Storage: "local", Nodes: []string{"pve1"}},
	}
}

// withUnresolved marks image name as not resolvable in images.
func withUnresolved(images map[string]state.ResolvedImage, name, why string) map[string]state.ResolvedImage {
	r := images[name]
	images[name] = state.ResolvedImage{Name: name, Kind: r.Kind, Storage: r.Storage, Nodes: r.Nodes, Err: why}
	return images
}

// builtFromImages is a template guest stamped with the images it was built
// from.
func builtFromImages(name string, vmid int, at time.Time, images ...string) state.Guest {
	g := built(name, vmid, "1.0.0", inputsA, at)
	g.Tags = state.Stamp{Template: name, Release: "1.0.0", InputsHash: inputsA, BuiltAt: at, Role: state.RoleTemplate, Images: images}.Tags()
	return g
}

// baseVM is the base VM templated made from a cloud image's release.
func baseVM(vmid int, r state.ResolvedImage) state.Guest {
	s := state.Stamp{Template: r.BaseName(), Role: state.RoleBase, Installation: "0f1e2d3c4b5a", Images: []string{r.Checksum},
		BuiltAt: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	return state.Guest{VMID: vmid, Name: r.BaseName(), Node: "pve1", Type: "qemu", Template: true, Status: "stopped",
		Tags: s.Tags(), MaxCPU: 1, MaxMem: 1024 << 20, MaxDisk: 3 << 30}
}

func TestPlanImagesGolden(t *testing.T) {
	afterTick := time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
	t22, u24, k8s, win := tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"), ubuntu24("tpl-ubuntu-24.04", 9001), ubuntu24("tpl-ubuntu-24.04-k8s", 9003), windowsTmpl()
	all := inputs("tpl-ubuntu-22.04", "tpl-ubuntu-24.04", "tpl-windows-2022", "tpl-ubuntu-24.04-k8s")
	fleet := func(noble, virtio string) []state.Guest {
		return []state.Guest{
			built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick),
			builtFromImages("tpl-ubuntu-24.04", 9001, afterTick, noble),
			builtFromImages("tpl-windows-2022", 9002, afterTick, winISO, virtio),
			builtFromImages("tpl-ubuntu-24.04-k8s", 9003, afterTick, noble),
		}
	}
	cases := []struct {
		name    string
		desired *state.Desired
		obs     state.Observed
	}{
		// A new vendor release of the cloud image: the two templates built
		// from it rebuild, the others keep.
		{"image-new-release", imageDesired(t22, u24, win, k8s), state.Observed{
			Guests: append(fleet(nobleOld, virtioOld), baseVM(9800, resolvedImages(nobleOld, virtioOld)["ubuntu-24.04-cloud"])),
			Inputs: all, Images: resolvedImages(nobleNew, virtioOld)}},
		// A new release of an extra image: the message names the digest
		// it replaces, not the installer's.
		{"image-extra-updated", imageDesired(win), state.Observed{
			Guests: fleet(nobleOld, virtioOld)[2:3],
			Inputs: all, Images: resolvedImages(nobleOld, virtioNew)}},
		// Built before the image was declared: no image on its stamp.
		{"image-first-declared", imageDesired(u24), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-24.04", 9001, "1.0.0", inputsA, afterTick)},
			Inputs: all, Images: resolvedImages(nobleNew, virtioOld)}},
		// The checksum file cannot be read: a create waits for it.
		{"image-unresolved-create", imageDesired(t22, u24), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick)},
			Inputs: all, Images: withUnresolved(resolvedImages(nobleNew, virtioOld), "ubuntu-24.04-cloud",
				"checksum file https://cloud-images.ubuntu.com/noble/current/SHA256SUMS: 503 Service Unavailable")}},
		// A rebuild wanted for another reason waits for an unresolved
		// extra image too.
		{"image-unresolved-rebuild", imageDesired(tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"), func() state.Template {
			w := windowsTmpl()
			w.Release = tmpl("x", 1, "1.1.0").Release
			return w
		}()), state.Observed{
			Guests: []state.Guest{fleet(nobleOld, virtioOld)[0], fleet(nobleOld, virtioOld)[2]},
			Inputs: all, Images: withUnresolved(resolvedImages(nobleOld, virtioOld), "virtio-win",
				"no file in https://fedorapeople.org/groups/virt/virtio-win/direct-downloads/archive-virtio/SHA256SUMS matches virtio-win-*.iso")}},
		// Up to date, but its image cannot be resolved now: it keeps.
		{"image-unresolved-keep", imageDesired(u24), state.Observed{
			Guests: []state.Guest{builtFromImages("tpl-ubuntu-24.04", 9001, afterTick, nobleNew)},
			Inputs: all, Images: withUnresolved(resolvedImages(nobleNew, virtioOld), "ubuntu-24.04-cloud",
				"checksum file https://cloud-images.ubuntu.com/noble/current/SHA256SUMS: dial tcp: i/o timeout")}},
		// The release is already on a base VM: a new template uses it, but
		// it is not new.
		{"image-on-base-only", imageDesired(u24), state.Observed{
			Guests: []state.Guest{baseVM(9801, resolvedImages(nobleNew, virtioOld)["ubuntu-24.04-cloud"])},
			Inputs: all, Images: resolvedImages(nobleNew, virtioOld)}},
		// A rebuild for a new image is blocked by linked clones like any
		// other.
		{"image-updated-linked-clones", imageDesired(u24), state.Observed{
			Guests:       []state.Guest{builtFromImages("tpl-ubuntu-24.04", 9001, afterTick, nobleOld)},
			LinkedClones: map[int][]int{9001: {412}},
			Inputs:       all, Images: resolvedImages(nobleNew, virtioOld)}},
		// Without resolved images the planner does no image logic: the
		// stale template keeps and the plan lists no images.
		{"images-not-resolved", imageDesired(t22, u24, win), state.Observed{
			Guests: fleet(nobleOld, virtioOld)[:3],
			Inputs: all}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := rendered(t, Plan(tc.desired, tc.obs, now),
				textView{"text", plan.TextOptions{}}, textView{"text (verbose)", plan.TextOptions{Verbose: true}})
			for _, secret := range []string{"s3cret", "sig=", "mirror@"} {
				if bytes.Contains(got, []byte(secret)) {
					t.Errorf("the plan shows %q from the image's URL", secret)
				}
			}
			golden(t, filepath.Join("testdata", "plan", tc.name+".golden"), got)
		})
	}
}

// TestPlanNewVendorRelease states the golden case's decisions, so that a
// careless -update cannot bless a wrong plan.
func TestPlanNewVendorRelease(t *testing.T) {
	afterTick := time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
	d := imageDesired(tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"), ubuntu24("tpl-ubuntu-24.04", 9001), windowsTmpl(), ubuntu24("tpl-ubuntu-24.04-k8s", 9003))
	obs := state.Observed{
		Guests: []state.Guest{
			built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick),
			builtFromImages("tpl-ubuntu-24.04", 9001, afterTick, nobleOld),
			builtFromImages("tpl-windows-2022", 9002, afterTick, winISO, virtioOld),
			builtFromImages("tpl-ubuntu-24.04-k8s", 9003, afterTick, nobleOld),
		},
		Inputs: inputs("tpl-ubuntu-22.04", "tpl-ubuntu-24.04", "tpl-windows-2022", "tpl-ubuntu-24.04-k8s"),
		Images: resolvedImages(nobleNew, virtioOld),
	}
	p := Plan(d, obs, now)
	kinds := map[string]plan.Kind{}
	for _, a := range p.Actions {
		kinds[a.Template] = a.Kind
	}
	want := map[string]plan.Kind{"tpl-ubuntu-22.04": plan.Keep, "tpl-ubuntu-24.04": plan.Rebuild, "tpl-windows-2022": plan.Keep, "tpl-ubuntu-24.04-k8s": plan.Rebuild}
	for n, k := range want {
		if kinds[n] != k {
			t.Errorf("%s: %s, want %s", n, kinds[n], k)
		}
	}
	u24 := p.Actions[1]
	if len(u24.Reasons) != 1 || u24.Reasons[0].Code != plan.ReasonImageUpdated ||
		!strings.Contains(u24.Reasons[0].Message, "sha256:"+state.ImageDigest(nobleNew)+"…") ||
		!strings.Contains(u24.Reasons[0].Message, state.ImageDigest(nobleOld)+"…") {
		t.Errorf("tpl-ubuntu-24.04 reasons: %+v", u24.Reasons)
	}
	if len(u24.Images) != 1 || u24.Images[0].Checksum != nobleNew || u24.Current == nil || len(u24.Current.Images) != 1 {
		t.Errorf("tpl-ubuntu-24.04 images %+v, current %+v", u24.Images, u24.Current)
	}
	if len(p.Images) != 3 {
		t.Fatalf("images: %+v", p.Images)
	}
	noble, win, virtio := p.Images[0], p.Images[1], p.Images[2]
	if !noble.New || strings.Join(noble.Templates, " ") != "tpl-ubuntu-24.04 tpl-ubuntu-24.04-k8s" ||
		noble.Base != "base-ubuntu-24.04-cloud-"+state.ImageDigest(nobleNew) || noble.URL != "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img" ||
		noble.Volume != "local:import/noble-server-cloudimg-amd64-"+state.ImageDigest(nobleNew)+".qcow2" {
		t.Errorf("cloud image: %+v", noble)
	}
	if win.New || virtio.New || len(win.Templates)+len(virtio.Templates) != 0 || win.Base != "" {
		t.Errorf("unchanged images: %+v %+v", win, virtio)
	}
	if p.Summary != (plan.Summary{Rebuild: 2, Keep: 2}) {
		t.Errorf("summary %+v", p.Summary)
	}
}

// TestPlanImageUnresolvedBlocksBeforeUnmet: a build waiting for an image is
// blocked by it alone; prerequisites checked against an unknown image do
// not count.
func TestPlanImageUnresolvedBlocksBeforeUnmet(t *testing.T) {
	d := imageDesired(ubuntu24("tpl-ubuntu-24.04", 9001))
	obs := state.Observed{Inputs: inputs("tpl-ubuntu-24.04"),
		Images: withUnresolved(resolvedImages(nobleNew, virtioOld), "ubuntu-24.04-cloud", "checksum file: 404 Not Found"),
		Unmet:  map[string][]state.Unmet{"tpl-ubuntu-24.04": {{Code: plan.ReasonCloneSourceMissing, Message: "no base VM"}}}}
	p := Plan(d, obs, now)
	a := p.Actions[0]
	if a.Kind != plan.Blocked || len(a.Reasons) != 2 || a.Reasons[0].Code != plan.ReasonImageUnresolved ||
		a.Reasons[0].Message != "image ubuntu-24.04-cloud: checksum file: 404 Not Found; the build waits until it resolves" ||
		a.Reasons[1].Message != "wanted a create: no guest at VMID 9001" {
		t.Errorf("action: %+v", a)
	}
	if len(p.Images[0].Templates) != 0 || p.Images[0].Error == "" || p.Images[0].New || p.Images[0].Volume != "" {
		t.Errorf("image: %+v", p.Images[0])
	}
	// An image the session did not resolve at all counts as unresolved.
	delete(obs.Images, "ubuntu-24.04-cloud")
	if a := Plan(d, obs, now).Actions[0]; a.Kind != plan.Blocked || a.Reasons[0].Message != "image ubuntu-24.04-cloud: not resolved; the build waits until it resolves" {
		t.Errorf("missing image: %+v", a)
	}
}

func TestPublicURL(t *testing.T) {
	cases := map[string]string{
		"https://user:pw@mirror.example/ubuntu/noble.img?X-Amz-Signature=abc#x": "https://mirror.example/ubuntu/noble.img",
		"https://cloud-images.ubuntu.com/noble/current/noble.img":               "https://cloud-images.ubuntu.com/noble/current/noble.img",
		"https://token@mirror.example/a.iso?":                                   "https://mirror.example/a.iso",
		"://bad":                                                                "",
		"":                                                                      "",
	}
	for in, want := range cases {
		if got := publicURL(in); got != want {
			t.Errorf("publicURL(%q) = %q, want %q", in, got, want)
		}
	}
}
