package proxmoxtest

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"templated/internal/proxmox"
	"templated/internal/state"
)

// OtherNode is a node of every harness's cluster that holds no guests.
const OtherNode = "pve2"

// Run runs the contract tests against fresh harnesses from newHarness (one
// per subtest).
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"ListGuests", testListGuests},
		{"GuestConfig", testGuestConfig},
		{"SetMeta", testSetMeta},
		{"Clone", testClone},
		{"ConvertToTemplate", testConvert},
		{"ResizeDisk", testResize},
		{"Delete", testDelete},
		{"LinkedClones", testLinkedClones},
		{"Version", testVersion},
		{"Canceled", testCanceled},
		{"CreateGuest", testCreateGuest},
		{"CreateGuestRace", testCreateGuestRace},
		{"SetMetaIf", testSetMetaIf},
		{"SetMetaIfRace", testSetMetaIfRace},
		{"DownloadURL", testDownloadURL},
		{"DownloadURLFailures", testDownloadURLFailures},
		{"DownloadURLExisting", testDownloadURLExisting},
		{"CreateBase", testCreateBase},
		{"CreateBaseMissingImage", testCreateBaseMissingImage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newHarness(t)) })
	}
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: err = %v, want one matching %q", what, err, kind)
	}
}

func guest(t *testing.T, h Harness, vmid int) (state.Guest, bool) {
	t.Helper()
	gs, err := h.Cluster().ListGuests(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		if g.VMID == vmid {
			return g, true
		}
	}
	return state.Guest{}, false
}

func mustGuest(t *testing.T, h Harness, vmid int) state.Guest {
	t.Helper()
	g, ok := guest(t, h, vmid)
	if !ok {
		t.Fatalf("guest %d not listed", vmid)
	}
	return g
}

func config(t *testing.T, h Harness, vmid int) state.GuestConfig {
	t.Helper()
	gc, err := h.Cluster().GuestConfig(t.Context(), h.Node(), vmid)
	if err != nil {
		t.Fatal(err)
	}
	return gc
}

func seedTemplate(t *testing.T, h Harness, vmid int, name string) {
	h.AddVM(t, VM{VMID: vmid, Name: name, Template: true, Tags: []string{"golden", "ubuntu"},
		Description: "managed-by=templated", Cores: 2, MemoryMiB: 2048, Agent: true, CloudInit: true})
}

func testListGuests(t *testing.T, h Harness) {
	seedTemplate(t, h, 9000, "tpl-ubuntu-22.04")
	h.AddVM(t, VM{VMID: 101, Name: "web", Running: true, Cores: 2, Sockets: 2, MemoryMiB: 4096})
	h.AddVM(t, VM{VMID: 1000, Name: "db", Lock: "backup", Tags: []string{"Prod"}})
	h.AddVM(t, VM{VMID: 200, Type: "lxc", Name: "ct"})
	gs, err := h.Cluster().ListGuests(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, g := range gs {
		ids = append(ids, g.VMID)
		if want := g.VMID != 200; g.IsQEMU() != want {
			t.Errorf("guest %d has type %q", g.VMID, g.Type)
		}
		if g.Node != h.Node() {
			t.Errorf("guest %d on node %q", g.VMID, g.Node)
		}
	}
	if !reflect.DeepEqual(ids, []int{101, 200, 1000, 9000}) {
		t.Fatalf("listed %v, want [101 200 1000 9000] (sorted, containers included)", ids)
	}
	tpl, web, db := gs[3], gs[0], gs[2]
	if !tpl.Template || tpl.Name != "tpl-ubuntu-22.04" || tpl.Status != "stopped" || !reflect.DeepEqual(tpl.Tags, []string{"golden", "ubuntu"}) || tpl.Lock != "" {
		t.Errorf("template: %+v", tpl)
	}
	if tpl.MaxCPU != 2 || tpl.MaxMem != 2048<<20 || tpl.MaxDisk != 32<<30 {
		t.Errorf("template sizes: cpu %d mem %d disk %d", tpl.MaxCPU, tpl.MaxMem, tpl.MaxDisk)
	}
	if web.Template || web.Status != "running" || web.MaxCPU != 4 || web.MaxMem != 4096<<20 || len(web.Tags) != 0 {
		t.Errorf("web: %+v", web)
	}
	if db.Lock != "backup" || !reflect.DeepEqual(db.Tags, []string{"prod"}) || !db.HasTag("prod") {
		t.Errorf("db: %+v", db)
	}
}

func testGuestConfig(t *testing.T, h Harness) {
	seedTemplate(t, h, 9000, "tpl-ubuntu-22.04")
	h.AddVM(t, VM{VMID: 101, Name: "web", Sockets: 2, Cores: 4, MemoryMiB: 8192, Lock: "backup",
		Disks: []state.Disk{{Key: "scsi0", Volume: "local-lvm:vm-101-disk-0", SizeGB: 20}, {Key: "virtio1", Volume: "local-lvm:vm-101-disk-1", SizeGB: 0.5}}})
	gc := config(t, h, 9000)
	if gc.VMID != 9000 || gc.Node != h.Node() || gc.Name != "tpl-ubuntu-22.04" || !gc.Template || gc.Cores != 2 || gc.Sockets != 1 ||
		gc.MemoryMiB != 2048 || !gc.Agent || !gc.CloudInit || gc.Description != "managed-by=templated" ||
		!reflect.DeepEqual(gc.Tags, []string{"golden", "ubuntu"}) || gc.Lock != "" {
		t.Errorf("template config: %+v", gc)
	}
	if len(gc.Disks) != 1 || gc.Disks[0].Key != "scsi0" || gc.Disks[0].Volume != "local-lvm:base-9000-disk-0" || gc.Disks[0].SizeGB != 32 {
		t.Errorf("template disks: %+v", gc.Disks)
	}
	if gc.Digest == "" || gc.Raw["name"] != "tpl-ubuntu-22.04" || gc.Raw["template"] != "1" {
		t.Errorf("digest %q raw %v", gc.Digest, gc.Raw)
	}
	gc = config(t, h, 101)
	want := []state.Disk{{Key: "scsi0", Volume: "local-lvm:vm-101-disk-0", SizeGB: 20}, {Key: "virtio1", Volume: "local-lvm:vm-101-disk-1", SizeGB: 0.5}}
	if gc.Template || gc.Agent || gc.CloudInit || gc.Cores != 4 || gc.Sockets != 2 || gc.MemoryMiB != 8192 || gc.Lock != "backup" || !reflect.DeepEqual(gc.Disks, want) {
		t.Errorf("vm config: %+v", gc)
	}
	_, err := h.Cluster().GuestConfig(t.Context(), h.Node(), 4242)
	wantKind(t, "missing guest", err, proxmox.ErrNotFound)
	_, err = h.Cluster().GuestConfig(t.Context(), OtherNode, 9000)
	wantKind(t, "guest on another node", err, proxmox.ErrNotFound)
}

func testSetMeta(t *testing.T, h Harness) {
	c, ctx, node := h.Cluster(), t.Context(), h.Node()
	seedTemplate(t, h, 9000, "tpl")
	desc := "managed-by=templated\nspec-sha=3f5e"
	if err := c.SetMeta(ctx, node, 9000, desc, []string{"Golden", "ubuntu;jammy", "golden"}); err != nil {
		t.Fatal(err)
	}
	gc := config(t, h, 9000)
	if gc.Description != desc || !reflect.DeepEqual(gc.Tags, []string{"golden", "jammy", "ubuntu"}) {
		t.Fatalf("after SetMeta: %q %v", gc.Description, gc.Tags)
	}
	if g := mustGuest(t, h, 9000); !reflect.DeepEqual(g.Tags, gc.Tags) {
		t.Fatalf("list tags %v != config tags %v", g.Tags, gc.Tags)
	}
	if err := c.SetMeta(ctx, node, 9000, "", nil); err != nil {
		t.Fatal(err)
	}
	if gc := config(t, h, 9000); gc.Description != "" || len(gc.Tags) != 0 {
		t.Fatalf("after clearing: %q %v", gc.Description, gc.Tags)
	}
	wantKind(t, "invalid tag", c.SetMeta(ctx, node, 9000, "x", []string{"no/slash"}), proxmox.ErrInvalid)
	if gc := config(t, h, 9000); gc.Description != "" {
		t.Fatalf("invalid SetMeta changed the description to %q", gc.Description)
	}
	wantKind(t, "missing guest", c.SetMeta(ctx, node, 4242, "x", nil), proxmox.ErrNotFound)
	h.SetLock(t, 9000, "clone")
	wantKind(t, "locked guest", c.SetMeta(ctx, node, 9000, "x", nil), proxmox.ErrLocked)
}

func testClone(t *testing.T, h Harness) {
	c, ctx, node := h.Cluster(), t.Context(), h.Node()
	seedTemplate(t, h, 9000, "tpl-ubuntu-22.04")
	if err := c.Clone(ctx, node, 9000, 9900, "tpl-ubuntu-22.04-staging"); err != nil {
		t.Fatal(err)
	}
	g := mustGuest(t, h, 9900)
	if g.Name != "tpl-ubuntu-22.04-staging" || g.Template || g.Status != "stopped" || g.Lock != "" || g.Node != node {
		t.Errorf("clone listed as %+v", g)
	}
	gc := config(t, h, 9900)
	if gc.Description != "managed-by=templated" || !reflect.DeepEqual(gc.Tags, []string{"golden", "ubuntu"}) ||
		gc.Cores != 2 || gc.MemoryMiB != 2048 || !gc.Agent || len(gc.Disks) != 1 {
		t.Errorf("clone did not inherit the source config: %+v", gc)
	}
	if len(gc.Disks) == 1 && (!strings.Contains(gc.Disks[0].Volume, "vm-9900-disk-") || strings.Contains(gc.Disks[0].Volume, "base-9000")) {
		t.Errorf("full clone disk %q is not its own volume", gc.Disks[0].Volume)
	}
	if src := config(t, h, 9000); !src.Template || src.Name != "tpl-ubuntu-22.04" {
		t.Errorf("source changed: %+v", src)
	}
	wantKind(t, "target exists", c.Clone(ctx, node, 9000, 9900, "again"), proxmox.ErrExists)
	wantKind(t, "missing source", c.Clone(ctx, node, 4242, 9901, "x"), proxmox.ErrNotFound)
	wantKind(t, "invalid name", c.Clone(ctx, node, 9000, 9902, "under_score"), proxmox.ErrInvalid)
	if _, ok := guest(t, h, 9901); ok {
		t.Error("failed clone left guest 9901")
	}
	h.SetLock(t, 9000, "backup")
	wantKind(t, "locked source", c.Clone(ctx, node, 9000, 9903, "x"), proxmox.ErrLocked)
}

func testConvert(t *testing.T, h Harness) {
	c, ctx, node := h.Cluster(), t.Context(), h.Node()
	h.AddVM(t, VM{VMID: 9900, Name: "staging"})
	h.AddVM(t, VM{VMID: 9901, Name: "running", Running: true})
	h.AddVM(t, VM{VMID: 9902, Name: "locked", Lock: "backup"})
	seedTemplate(t, h, 9000, "tpl")
	if err := c.ConvertToTemplate(ctx, node, 9900); err != nil {
		t.Fatal(err)
	}
	if g := mustGuest(t, h, 9900); !g.Template || g.Status != "stopped" {
		t.Errorf("after convert: %+v", g)
	}
	gc := config(t, h, 9900)
	if !gc.Template || len(gc.Disks) != 1 || !strings.Contains(gc.Disks[0].Volume, "base-9900-disk-0") {
		t.Errorf("template config: %+v", gc)
	}
	wantKind(t, "template again", c.ConvertToTemplate(ctx, node, 9000), proxmox.ErrConflict)
	wantKind(t, "running VM", c.ConvertToTemplate(ctx, node, 9901), proxmox.ErrConflict)
	if g := mustGuest(t, h, 9901); g.Template {
		t.Error("running VM became a template")
	}
	wantKind(t, "locked VM", c.ConvertToTemplate(ctx, node, 9902), proxmox.ErrLocked)
	wantKind(t, "missing VM", c.ConvertToTemplate(ctx, node, 4242), proxmox.ErrNotFound)
}

func testResize(t *testing.T, h Harness) {
	c, ctx, node := h.Cluster(), t.Context(), h.Node()
	h.AddVM(t, VM{VMID: 9900, Name: "staging"})
	before := config(t, h, 9900)
	if len(before.Disks) == 0 || before.Disks[0].Key != "scsi0" {
		t.Fatalf("seeded VM has disks %+v", before.Disks)
	}
	want := int(before.Disks[0].SizeGB) + 8
	if err := c.ResizeDisk(ctx, node, 9900, "scsi0", want); err != nil {
		t.Fatal(err)
	}
	if got := config(t, h, 9900).Disks[0].SizeGB; got != float64(want) {
		t.Fatalf("after resize scsi0 is %vG, want %dG", got, want)
	}
	if g := mustGuest(t, h, 9900); g.MaxDisk != int64(want)<<30 {
		t.Errorf("the guest list reports maxdisk %d after resize, want %d", g.MaxDisk, int64(want)<<30)
	}
	if err := c.ResizeDisk(ctx, node, 9900, "scsi0", 1); err == nil {
		t.Error("shrinking a disk succeeded")
	}
	wantKind(t, "missing VM", c.ResizeDisk(ctx, node, 4242, "scsi0", 40), proxmox.ErrNotFound)
}

func testDelete(t *testing.T, h Harness) {
	c, ctx, node := h.Cluster(), t.Context(), h.Node()
	h.AddVM(t, VM{VMID: 101, Name: "stopped"})
	h.AddVM(t, VM{VMID: 102, Name: "running", Running: true})
	h.AddVM(t, VM{VMID: 103, Name: "locked", Lock: "backup"})
	seedTemplate(t, h, 9000, "tpl")
	h.AddLinkedClone(t, 9000, 120, "linked")
	for _, id := range []int{101, 102} {
		if err := c.Delete(ctx, node, id); err != nil {
			t.Fatalf("delete %d: %v", id, err)
		}
		if _, ok := guest(t, h, id); ok {
			t.Fatalf("guest %d still listed after Delete", id)
		}
	}
	wantKind(t, "missing guest", c.Delete(ctx, node, 101), proxmox.ErrNotFound)
	wantKind(t, "locked guest", c.Delete(ctx, node, 103), proxmox.ErrLocked)
	if g := mustGuest(t, h, 103); g.Lock != "backup" {
		t.Fatalf("locked guest changed: %+v", g)
	}
	h.AddVM(t, VM{VMID: 104, Name: "locked-running", Lock: "backup", Running: true})
	wantKind(t, "locked running guest", c.Delete(ctx, node, 104), proxmox.ErrLocked)
	if g := mustGuest(t, h, 104); g.Status != "running" {
		t.Fatalf("a refused delete stopped the guest: %+v", g)
	}
	err := c.Delete(ctx, node, 9000)
	wantKind(t, "template with a linked clone", err, proxmox.ErrConflict)
	mustGuest(t, h, 9000)
	mustGuest(t, h, 120)
	if err := c.Delete(ctx, node, 120); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, node, 9000); err != nil {
		t.Fatalf("delete template without linked clones: %v", err)
	}
	if _, ok := guest(t, h, 9000); ok {
		t.Fatal("template still listed")
	}
}

func testLinkedClones(t *testing.T, h Harness) {
	c, ctx, node := h.Cluster(), t.Context(), h.Node()
	seedTemplate(t, h, 9000, "tpl")
	seedTemplate(t, h, 9001, "tpl2")
	h.AddVM(t, VM{VMID: 101, Name: "vm"})
	h.AddLinkedClone(t, 9000, 130, "b")
	h.AddLinkedClone(t, 9000, 120, "a")
	h.AddLinkedClone(t, 9001, 140, "c")
	if err := c.Clone(ctx, node, 9000, 150, "full"); err != nil {
		t.Fatal(err)
	}
	got, err := c.LinkedClones(ctx, node, 9000)
	if err != nil || !reflect.DeepEqual(got, []int{120, 130}) {
		t.Fatalf("linked clones of 9000 = %v, %v; want [120 130]", got, err)
	}
	if got, err := c.LinkedClones(ctx, node, 101); err != nil || len(got) != 0 {
		t.Fatalf("linked clones of a VM = %v, %v; want none", got, err)
	}
	_, err = c.LinkedClones(ctx, node, 4242)
	wantKind(t, "missing template", err, proxmox.ErrNotFound)
}

var versionRE = regexp.MustCompile(`^\d+\.\d+(\.\d+)?`)

func testVersion(t *testing.T, h Harness) {
	v, err := h.Cluster().Version(t.Context())
	if err != nil || !versionRE.MatchString(v) {
		t.Fatalf("version %q, %v", v, err)
	}
}

func testCanceled(t *testing.T, h Harness) {
	seedTemplate(t, h, 9000, "tpl")
	c, node := h.Cluster(), h.Node()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.ListGuests(ctx)
	errs := []error{err}
	_, err = c.GuestConfig(ctx, node, 9000)
	errs = append(errs, err,
		c.SetMeta(ctx, node, 9000, "changed", nil),
		c.Clone(ctx, node, 9000, 9900, "x"),
		c.Delete(ctx, node, 9000))
	for i, err := range errs {
		wantKind(t, "call "+string(rune('0'+i))+" with a canceled context", err, context.Canceled)
	}
	if gc := config(t, h, 9000); gc.Description != "managed-by=templated" || !gc.Template {
		t.Fatalf("canceled calls changed the template: %+v", gc)
	}
	if _, ok := guest(t, h, 9900); ok {
		t.Fatal("canceled clone created a guest")
	}
}
