package proxmoxtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"templated/internal/proxmox"
	"templated/internal/state"
)

// Imager is what both implementations offer for cloud images: fetching
// a file onto a storage, listing a storage's volumes and making a base
// VM from an image.
type Imager interface {
	DownloadURL(ctx context.Context, node, storage string, d proxmox.Download) (proxmox.TaskLog, error)
	Volumes(ctx context.Context, node, storage, content string) ([]string, error)
	CreateBase(ctx context.Context, node string, b proxmox.BaseVM) error
}

func imager(t *testing.T, h Harness) Imager {
	t.Helper()
	c, ok := h.Cluster().(Imager)
	if !ok {
		t.Fatalf("%T does not implement DownloadURL, Volumes and CreateBase", h.Cluster())
	}
	return c
}

// cloudImage is the file name of the test's cloud image.
const cloudImage = "noble-server-cloudimg-amd64-3f1c2e44a1b2.qcow2"

// QCOW2 is a minimal valid QCOW2 image (version 3) of virtual size
// vsize: the 512-byte header the simulator's format check reads.
func QCOW2(vsize int64) []byte {
	b := make([]byte, 512)
	copy(b, []byte{'Q', 'F', 'I', 0xfb})
	binary.BigEndian.PutUint32(b[4:], 3)
	binary.BigEndian.PutUint64(b[24:], uint64(vsize))
	return b
}

// fileServer serves files by name on 127.0.0.1; anything else is 404.
func fileServer(t *testing.T, files map[string][]byte) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// downloadImage fetches the test's cloud image (2 GiB virtual) as
// local:import/<cloudImage>.
func downloadImage(t *testing.T, h Harness) (Imager, string) {
	t.Helper()
	c := imager(t, h)
	img := QCOW2(2 << 30)
	ts := fileServer(t, map[string][]byte{cloudImage: img})
	_, err := c.DownloadURL(t.Context(), h.Node(), "local", proxmox.Download{Content: "import", Filename: cloudImage,
		URL: ts.URL + "/" + cloudImage, Checksum: sha256Hex(img), Algorithm: "sha256"})
	if err != nil {
		t.Fatal(err)
	}
	return c, "local:import/" + cloudImage
}

func volumes(t *testing.T, c Imager, node, storage, content string) []string {
	t.Helper()
	vols, err := c.Volumes(t.Context(), node, storage, content)
	if err != nil {
		t.Fatal(err)
	}
	return vols
}

func hasLine(lines []string, prefix string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

func testDownloadURL(t *testing.T, h Harness) {
	c, ctx, node := imager(t, h), t.Context(), h.Node()
	img, iso := QCOW2(2<<30), bytes.Repeat([]byte("installer"), 5000)
	ts := fileServer(t, map[string][]byte{cloudImage: img, "answers.iso": iso})
	tl, err := c.DownloadURL(ctx, node, "local", proxmox.Download{Content: "import", Filename: cloudImage,
		URL: ts.URL + "/" + cloudImage, Checksum: sha256Hex(img), Algorithm: "sha256"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tl.UPID, "UPID:"+node+":") || !strings.Contains(tl.UPID, ":download:") ||
		!hasLine(tl.Lines, "calculating checksum...OK, checksum verified") || tl.Lines[len(tl.Lines)-1] != "TASK OK" {
		t.Errorf("task log %s:\n%s", tl.UPID, strings.Join(tl.Lines, "\n"))
	}
	if got := volumes(t, c, node, "local", "import"); !reflect.DeepEqual(got, []string{"local:import/" + cloudImage}) {
		t.Errorf("import volumes %v", got)
	}
	sum := sha512.Sum512(iso)
	no := false
	if _, err := c.DownloadURL(ctx, node, "local", proxmox.Download{Content: "iso", Filename: "answers.iso", URL: ts.URL + "/answers.iso",
		Checksum: strings.ToUpper(hex.EncodeToString(sum[:])), Algorithm: "sha512", VerifyCertificates: &no}); err != nil {
		t.Fatal(err)
	}
	if got := volumes(t, c, node, "local", "iso"); !reflect.DeepEqual(got, []string{"local:iso/answers.iso"}) {
		t.Errorf("iso volumes %v", got)
	}
	for name, d := range map[string]proxmox.Download{
		"content":      {Content: "vztmpl", Filename: "x.tar.gz", URL: ts.URL + "/x"},
		"extension":    {Content: "import", Filename: "x.iso", URL: ts.URL + "/x"},
		"path":         {Content: "iso", Filename: "../x.iso", URL: ts.URL + "/x"},
		"scheme":       {Content: "iso", Filename: "x.iso", URL: "ftp://127.0.0.1/x.iso"},
		"checksum":     {Content: "iso", Filename: "x.iso", URL: ts.URL + "/x", Checksum: "abc", Algorithm: "sha256"},
		"algorithm":    {Content: "iso", Filename: "x.iso", URL: ts.URL + "/x", Checksum: sha256Hex(iso), Algorithm: "md5"},
		"no-algorithm": {Content: "iso", Filename: "x.iso", URL: ts.URL + "/x", Checksum: sha256Hex(iso)},
	} {
		_, err := c.DownloadURL(ctx, node, "local", d)
		wantKind(t, name, err, proxmox.ErrInvalid)
	}
}

func testDownloadURLFailures(t *testing.T, h Harness) {
	c, ctx, node := imager(t, h), t.Context(), h.Node()
	img := QCOW2(2 << 30)
	ts := fileServer(t, map[string][]byte{cloudImage: img})
	wrong := strings.Repeat("ab", 32)
	tl, err := c.DownloadURL(ctx, node, "local", proxmox.Download{Content: "import", Filename: cloudImage,
		URL: ts.URL + "/" + cloudImage, Checksum: wrong, Algorithm: "sha256"})
	wantKind(t, "wrong checksum", err, proxmox.ErrChecksum)
	exit := "checksum mismatch: got '" + sha256Hex(img) + "' != expect '" + wrong + "'"
	var te *state.TaskError
	if !errors.As(err, &te) || te.ExitStatus != exit || te.UPID != tl.UPID || !strings.Contains(err.Error(), "download "+cloudImage+" to local: ") {
		t.Errorf("wrong checksum: %v", err)
	}
	if !hasLine(tl.Lines, "calculating checksum...") || tl.Lines[len(tl.Lines)-1] != "TASK ERROR: "+exit {
		t.Errorf("wrong checksum's log:\n%s", strings.Join(tl.Lines, "\n"))
	}
	if got := volumes(t, c, node, "local", "import"); len(got) != 0 {
		t.Errorf("a failed download left %v", got)
	}

	// A 404 from a URL with credentials: the error names the status,
	// and neither it nor the log shows the password or the query.
	secretURL := strings.Replace(ts.URL, "http://", "http://mirror:hunter2hunter2@", 1) + "/gone.qcow2?sig=0123456789abcdef"
	tl, err = c.DownloadURL(ctx, node, "local", proxmox.Download{Content: "import", Filename: "gone.qcow2", URL: secretURL})
	wantKind(t, "404", err, proxmox.ErrTaskFailed)
	if !errors.As(err, &te) || te.ExitStatus != "download failed: exit code 8" || !strings.Contains(err.Error(), "404 Not Found") {
		t.Errorf("404: %v", err)
	}
	if !hasLine(tl.Lines, "HTTP request sent, awaiting response... 404 Not Found") {
		t.Errorf("404's log:\n%s", strings.Join(tl.Lines, "\n"))
	}
	for _, s := range append([]string{err.Error(), te.ExitStatus}, tl.Lines...) {
		if strings.Contains(s, "hunter2hunter2") || strings.Contains(s, "0123456789abcdef") {
			t.Errorf("the URL's password or query shows: %q", s)
		}
	}
	if got := volumes(t, c, node, "local", "import"); len(got) != 0 {
		t.Errorf("a failed download left %v", got)
	}
}

// testDownloadURLExisting: PVE refuses to replace a file without a
// checksum, keeps it when the checksum matches and aborts when not.
func testDownloadURLExisting(t *testing.T, h Harness) {
	c, volid := downloadImage(t, h)
	ctx, node := t.Context(), h.Node()
	img := QCOW2(2 << 30)
	ts := fileServer(t, map[string][]byte{cloudImage: QCOW2(4 << 30)})
	d := proxmox.Download{Content: "import", Filename: cloudImage, URL: ts.URL + "/" + cloudImage}
	tl, err := c.DownloadURL(ctx, node, "local", d)
	wantKind(t, "existing file without checksum", err, proxmox.ErrExists)
	exit := "refusing to override existing file '/var/lib/vz/import/" + cloudImage + "'"
	var te *state.TaskError
	if !errors.As(err, &te) || te.ExitStatus != exit || tl.Lines[len(tl.Lines)-1] != "TASK ERROR: "+exit {
		t.Errorf("existing file: %v\n%s", err, strings.Join(tl.Lines, "\n"))
	}
	d.Checksum, d.Algorithm = sha256Hex(img), "sha256"
	tl, err = c.DownloadURL(ctx, node, "local", d)
	if err != nil || !hasLine(tl.Lines, "calculating checksum of existing file...OK, got correct file already, no need to download") {
		t.Errorf("existing file with its checksum: %v\n%s", err, strings.Join(tl.Lines, "\n"))
	}
	d.Checksum = sha256Hex(QCOW2(4 << 30))
	_, err = c.DownloadURL(ctx, node, "local", d)
	wantKind(t, "existing file with another checksum", err, proxmox.ErrChecksum)
	if !errors.As(err, &te) || !strings.HasSuffix(te.ExitStatus, "', aborting") {
		t.Errorf("existing file with another checksum: %v", err)
	}
	if got := volumes(t, c, node, "local", "import"); !reflect.DeepEqual(got, []string{volid}) {
		t.Errorf("volumes %v", got)
	}
}

func testCreateBase(t *testing.T, h Harness) {
	c, volid := downloadImage(t, h)
	ctx, node := t.Context(), h.Node()
	desc := "templated base VM\nimage: ubuntu-24.04-cloud"
	b := proxmox.BaseVM{VMID: 8000, Name: "base-ubuntu-24-04", Description: desc, Tags: []string{"Templated-Base", "noble"},
		Storage: "local-lvm", ImportFrom: volid, Cores: 2, MemoryMiB: 2048}
	if err := c.CreateBase(ctx, node, b); err != nil {
		t.Fatal(err)
	}
	g := mustGuest(t, h, 8000)
	if !g.Template || g.Name != "base-ubuntu-24-04" || g.Node != node || g.Status != "stopped" || g.Lock != "" ||
		!reflect.DeepEqual(g.Tags, []string{"noble", "templated-base"}) || g.MaxDisk != 2<<30 {
		t.Errorf("base listed as %+v", g)
	}
	gc := config(t, h, 8000)
	if len(gc.Disks) != 1 || gc.Disks[0].Key != "scsi0" || gc.Disks[0].Volume != "local-lvm:base-8000-disk-0" || gc.Disks[0].SizeGB != 2 {
		t.Errorf("base disks %+v", gc.Disks)
	}
	r := gc.Raw
	if !gc.Template || !gc.CloudInit || !strings.HasPrefix(r["ide2"], "local-lvm:") || r["serial0"] != "socket" || r["vga"] != "serial0" ||
		!gc.Agent || gc.Cores != 2 || gc.Sockets != 1 || gc.MemoryMiB != 2048 || gc.Description != desc || r["ostype"] != "l26" ||
		r["scsihw"] != "virtio-scsi-single" || r["boot"] != "order=scsi0" || !strings.HasSuffix(r["net0"], ",bridge=vmbr0") {
		t.Errorf("base config %+v", gc)
	}
	if got := volumes(t, c, node, "local", "import"); !reflect.DeepEqual(got, []string{volid}) {
		t.Errorf("the image is gone after the import: %v", got)
	}
	wantKind(t, "VMID taken", c.CreateBase(ctx, node, b), proxmox.ErrExists)
	bad := b
	bad.VMID, bad.ImportFrom = 8001, volid+",format=raw"
	wantKind(t, "option smuggled into import-from", c.CreateBase(ctx, node, bad), proxmox.ErrInvalid)
	bad.ImportFrom, bad.Bridge = volid, "vmbr0,tag=5"
	wantKind(t, "option smuggled into the bridge", c.CreateBase(ctx, node, bad), proxmox.ErrInvalid)
	bad.Bridge, bad.Name = "", "under_score"
	wantKind(t, "invalid name", c.CreateBase(ctx, node, bad), proxmox.ErrInvalid)
	if _, ok := guest(t, h, 8001); ok {
		t.Error("a refused create left guest 8001")
	}
}

// testCreateBaseMissingImage: the create task fails as PVE's worker does
// and no guest remains.
func testCreateBaseMissingImage(t *testing.T, h Harness) {
	c, ctx, node := imager(t, h), t.Context(), h.Node()
	err := c.CreateBase(ctx, node, proxmox.BaseVM{VMID: 8001, Name: "base-missing", Storage: "local-lvm", ImportFrom: "local:import/missing.qcow2"})
	wantKind(t, "missing image", err, proxmox.ErrTaskFailed)
	var te *state.TaskError
	if !errors.As(err, &te) || te.ExitStatus != "unable to create VM 8001 - failed to stat '/var/lib/vz/import/missing.qcow2'" ||
		!strings.Contains(err.Error(), "create base 8001: ") {
		t.Errorf("missing image: %v", err)
	}
	if _, ok := guest(t, h, 8001); ok {
		t.Error("a failed create left guest 8001")
	}
}
