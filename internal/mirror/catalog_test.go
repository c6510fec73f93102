package mirror

import (
	"strings"
	"testing"
)

// TestDefaultCatalog: the embedded catalog holds the images the default
// desired file names, each in a checksum file or not as the vendor has it.
func TestDefaultCatalog(t *testing.T) {
	c := DefaultCatalog()
	files := map[string]File{}
	for _, f := range c.Files {
		files[f.URL] = f
	}
	for u, vsize := range map[string]int64{
		"https://cloud-images.ubuntu.com/releases/jammy/release/jammy-server-cloudimg-amd64.img":                                            2361393152,
		"https://cloud-images.ubuntu.com/releases/noble/release/noble-server-cloudimg-amd64.img":                                            3758096384,
		"https://dl.rockylinux.org/pub/rocky/9/images/x86_64/Rocky-9-GenericCloud-Base-9.5-20241118.0.x86_64.qcow2":                         10737418240,
		"https://software-static.download.prss.microsoft.com/sg/download/888969d5-f34g-4e03-ac9d-1f9786c66749/SERVER_EVAL_x64FRE_en-us.iso": 0,
		"https://fedorapeople.org/groups/virt/virtio-win/direct-downloads/archive-virtio/virtio-win-0.1.271-1/virtio-win-0.1.271.iso":       0,
	} {
		f, ok := files[u]
		if !ok || f.VirtualSize != vsize {
			t.Errorf("%s: %+v (listed %v), want virtual size %d", u, f, ok, vsize)
		}
	}
	if len(c.ChecksumFiles) != 3 {
		t.Errorf("checksum files %v", c.ChecksumFiles)
	}
}

func TestParseCatalogErrors(t *testing.T) {
	const good = "https://a.example/d/x.qcow2"
	for _, tc := range []struct{ name, yaml, err string }{
		{"unknown key", "files: [{url: " + good + ", kind: blob, size: 10, release: r, colour: red}]", "field colour not found"},
		{"no files", "files: []", "files: none"},
		{"scheme", "files: [{url: 'ftp://a/x', kind: blob, size: 10, release: r}]", `files[0].url: "ftp://a/x": want http:// or https://`},
		{"upper host", "files: [{url: 'https://A.example/x', kind: blob, size: 10, release: r}]", "want a lower-case host"},
		{"dir", "files: [{url: 'https://a/x/', kind: blob, size: 10, release: r}]", "want a clean path to a file"},
		{"dotdot", "files: [{url: 'https://a/d/../x', kind: blob, size: 10, release: r}]", "want a clean path to a file"},
		{"query", "files: [{url: 'https://a/x?y', kind: blob, size: 10, release: r}]", "want no user, query or fragment"},
		{"kind", "files: [{url: " + good + ", kind: vmdk, size: 10, release: r}]", `files[0].kind: "vmdk"`},
		{"qcow2 small", "files: [{url: " + good + ", kind: qcow2, size: 65536, virtual_size: 1, release: r}]", "files[0].size: 65536, want 262144 to"},
		{"qcow2 no vsize", "files: [{url: " + good + ", kind: qcow2, size: 262144, release: r}]", "files[0].virtual_size: 0"},
		{"iso vsize", "files: [{url: 'https://a/x.iso', kind: iso, size: 40000, virtual_size: 5, release: r}]", "only a qcow2 image has one"},
		{"iso small", "files: [{url: 'https://a/x.iso', kind: iso, size: 30000, release: r}]", "files[0].size: 30000, want 36864"},
		{"big", "files: [{url: 'https://a/x', kind: blob, size: 5000000, release: r}]", "want 1 to 4194304"},
		{"no release", "files: [{url: 'https://a/x', kind: blob, size: 10}]", "files[0].release: empty"},
		{"publish", "files: [{url: 'https://a/x', kind: blob, size: 10, release: r, publish: keep}]", `publish: "keep"`},
		{"add without release in name", "files: [{url: 'https://a/x-1.0', kind: blob, size: 10, release: '2.0', publish: add}]", "must appear once in the file name"},
		{"twice", "files: [{url: 'https://a/x', kind: blob, size: 10, release: r}, {url: 'https://a/x', kind: blob, size: 10, release: r}]", "files[1].url: https://a/x is already files[0]"},
		{"two schemes", "files: [{url: 'https://a/x', kind: blob, size: 10, release: r}, {url: 'http://a/y', kind: blob, size: 10, release: r}]", "host a is served over https elsewhere"},
		{"format", "checksum_files: [{url: 'https://a/SUMS', format: md5}]\nfiles: [{url: 'https://a/x', kind: blob, size: 10, release: r}]", `checksum_files[0].format: "md5"`},
		{"two sums", "checksum_files: [{url: 'https://a/SUMS', format: gnu}, {url: 'https://a/CHECKSUM', format: bsd}]\nfiles: [{url: 'https://a/x', kind: blob, size: 10, release: r}]", "https://a/ already has a checksum file (checksum_files[0])"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseCatalog([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want one with %q", err, tc.err)
			}
		})
	}
	if _, err := Start(Options{Catalog: &Catalog{}}); err == nil {
		t.Error("Start took an empty catalog")
	}
}
