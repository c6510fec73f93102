package state

import (
	"strings"
	"testing"
	"time"
)

func TestResolvedImageVolumes(t *testing.T) {
	sum := "sha256:3f1c2e44a1b2" + strings.Repeat("0", 52)
	cases := []struct {
		r            ResolvedImage
		file, volid  string
		content, alg string
	}{
		{ResolvedImage{Name: "ubuntu-24.04-cloud", Kind: ImageCloud, File: "noble-server-cloudimg-amd64.img", Checksum: sum, Storage: "local"},
			"noble-server-cloudimg-amd64-3f1c2e44a1b2.qcow2", "local:import/noble-server-cloudimg-amd64-3f1c2e44a1b2.qcow2", "import", "sha256"},
		{ResolvedImage{Name: "r", Kind: ImageCloud, Format: "raw", File: "disk.raw.xz", Checksum: sum, Storage: "nfs"},
			"disk.raw-3f1c2e44a1b2.raw", "nfs:import/disk.raw-3f1c2e44a1b2.raw", "import", "sha256"},
		{ResolvedImage{Name: "w", Kind: ImageISO, File: "SERVER EVAL+x64.ISO", Checksum: sum, Storage: "local"},
			"SERVER_EVAL_x64-3f1c2e44a1b2.iso", "local:iso/SERVER_EVAL_x64-3f1c2e44a1b2.iso", "iso", "sha256"},
		{ResolvedImage{Name: "w", Kind: ImageISO, File: "boot.img", Checksum: "sha512:" + strings.Repeat("ab", 64), Storage: "local"},
			"boot-abababababab.img", "local:iso/boot-abababababab.img", "iso", "sha512"},
	}
	for _, c := range cases {
		if got := c.r.VolumeFile(); got != c.file {
			t.Errorf("%s: VolumeFile = %q, want %q", c.r.File, got, c.file)
		}
		if got := c.r.VolumeID(); got != c.volid {
			t.Errorf("%s: VolumeID = %q, want %q", c.r.File, got, c.volid)
		}
		if c.r.Content() != c.content || c.r.Algorithm() != c.alg {
			t.Errorf("%s: content %q algorithm %q", c.r.File, c.r.Content(), c.r.Algorithm())
		}
	}
	r := cases[0].r
	if r.BaseName() != "base-ubuntu-24.04-cloud-3f1c2e44a1b2" || r.Digest() != strings.TrimPrefix(sum, "sha256:") {
		t.Errorf("BaseName %q Digest %q", r.BaseName(), r.Digest())
	}
}

func TestStampImages(t *testing.T) {
	a := "sha256:" + strings.Repeat("a1", 32)
	b := "sha512:" + strings.Repeat("b2", 64)
	s := Stamp{Template: "tpl-win2022", Release: "1.0.0", InputsHash: strings.Repeat("c", 64), BuiltAt: time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC),
		Role: RoleTemplate, Images: []string{a, b}}
	tags := s.Tags()
	got, ok := StampFromTags(tags)
	if !ok || len(got.Images) != 2 || !got.HasImage(a) || !got.HasImage(b) || got.HasImage("sha256:"+strings.Repeat("ff", 32)) {
		t.Fatalf("from tags %v: %+v", tags, got)
	}
	desc, ok := StampFromDescription(s.Description())
	if !ok || len(desc.Images) != 2 || desc.Images[0] != a || desc.Images[1] != b {
		t.Fatalf("from description: %+v\n%s", desc.Images, s.Description())
	}
	base := Stamp{Role: RoleBase, Images: []string{a}, Installation: "0f1e2d3c4b5a"}
	bt, ok := StampFromTags(base.Tags())
	if !ok || bt.Role != RoleBase || !bt.HasImage(a) {
		t.Fatalf("base stamp: %+v from %v", bt, base.Tags())
	}
	if f := ForeignTags(append(base.Tags(), "golden")); len(f) != 1 || f[0] != "golden" {
		t.Fatalf("ForeignTags kept stamp tags: %v", f)
	}
}
