package mirror

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestContentQCOW2: a qcow2 file is a QCOW2 v3 image of the catalog's
// virtual size, without backing file, whose refcount and L1 tables are
// where the header says and consistent (four metadata clusters, nothing
// allocated); its bytes follow from URL and release only.
func TestContentQCOW2(t *testing.T) {
	f := File{URL: "https://a/x.qcow2", Kind: KindQCOW2, Size: 5 * clusterSize, VirtualSize: 10737418240, Release: "1"}
	b := content(f)
	be := binary.BigEndian
	if len(b) != int(f.Size) || !bytes.Equal(b[:4], []byte("QFI\xfb")) || be.Uint32(b[4:]) != 3 {
		t.Fatalf("header %x", b[:8])
	}
	if be.Uint64(b[8:]) != 0 || be.Uint32(b[16:]) != 0 {
		t.Error("names a backing file")
	}
	if be.Uint32(b[20:]) != 16 || be.Uint64(b[24:]) != uint64(f.VirtualSize) || be.Uint32(b[32:]) != 0 {
		t.Errorf("cluster bits %d, size %d, crypt %d", be.Uint32(b[20:]), be.Uint64(b[24:]), be.Uint32(b[32:]))
	}
	l1Size, l1 := be.Uint32(b[36:]), be.Uint64(b[40:])
	if l1Size != 20 || l1 != 3*clusterSize {
		t.Errorf("L1 %d entries at %d", l1Size, l1)
	}
	if l1Table := b[l1 : l1+8*uint64(l1Size)]; !bytes.Equal(l1Table, make([]byte, len(l1Table))) {
		t.Error("L1 table allocates clusters")
	}
	rt, rtClusters := be.Uint64(b[48:]), be.Uint32(b[56:])
	if rt != clusterSize || rtClusters != 1 || be.Uint64(b[rt:]) != 2*clusterSize {
		t.Errorf("refcount table at %d (%d clusters) → %d", rt, rtClusters, be.Uint64(b[rt:]))
	}
	if !bytes.Equal(b[rt+8:rt+clusterSize], make([]byte, clusterSize-8)) {
		t.Error("refcount table has more than one block")
	}
	for i := range 6 {
		want := uint16(0)
		if i < qcow2MetaClusters {
			want = 1
		}
		if got := be.Uint16(b[2*clusterSize+2*i:]); got != want {
			t.Errorf("refcount of cluster %d: %d, want %d", i, got, want)
		}
	}
	if be.Uint64(b[72:]) != 0 || be.Uint64(b[80:]) != 0 || be.Uint64(b[88:]) != 0 || be.Uint32(b[96:]) != 4 ||
		be.Uint32(b[100:]) != 104 || be.Uint64(b[104:]) != 0 {
		t.Errorf("v3 header fields %x", b[72:112])
	}
	if !bytes.Equal(content(f), b) {
		t.Error("same URL and release, other bytes")
	}
	g := f
	g.Release = "2"
	if bytes.Equal(content(g), b) {
		t.Error("another release, same bytes")
	}
}

// TestContentISO: an ISO has the ISO 9660 signature at byte 32769 and a
// set terminator after the primary volume descriptor.
func TestContentISO(t *testing.T) {
	f := File{URL: "https://a/virtio-win-0.1.271.iso", Kind: KindISO, Size: 196608, Release: "1"}
	b := content(f)
	if b[32768] != 1 || string(b[32769:32774]) != "CD001" || b[32774] != 1 {
		t.Errorf("primary volume descriptor %q", b[32768:32775])
	}
	if string(b[32808:32840]) != "VIRTIO_WIN_0_1_271              " {
		t.Errorf("volume id %q", b[32808:32840])
	}
	if binary.LittleEndian.Uint32(b[32848:]) != 96 || binary.BigEndian.Uint32(b[32852:]) != 96 {
		t.Error("volume space size")
	}
	if b[34816] != 255 || string(b[34817:34822]) != "CD001" {
		t.Errorf("terminator %q", b[34816:34823])
	}
	if bytes.Equal(b[40000:40100], make([]byte, 100)) {
		t.Error("no noise after the descriptors")
	}
}

// TestContentQemuImg: where qemu-img is installed, it finds no error in a
// generated image and reports the catalog's virtual size.
func TestContentQemuImg(t *testing.T) {
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Skip("no qemu-img")
	}
	f := File{URL: "https://a/noble.img", Kind: KindQCOW2, Size: 5 * clusterSize, VirtualSize: 3758096384, Release: "1"}
	p := filepath.Join(t.TempDir(), "noble.img")
	if err := os.WriteFile(p, content(f), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(qemuImg, "check", "-f", "qcow2", p).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img check: %v\n%s", err, out)
	}
	out, err := exec.Command(qemuImg, "info", "-f", "qcow2", "--output=json", p).Output()
	if err != nil {
		t.Fatalf("qemu-img info: %v", err)
	}
	var info struct {
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
		Backing     string `json:"backing-filename"`
	}
	if err := json.Unmarshal(out, &info); err != nil || info.Format != "qcow2" || info.VirtualSize != f.VirtualSize || info.Backing != "" {
		t.Errorf("qemu-img info: %+v (%v)\n%s", info, err, out)
	}
}
