package state

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestDefaultFileImages: a file shaped like the default one (testdata/good/default.yaml) declares the vendor
// images its templates use, with the defaults applied.
func TestDefaultFileImages(t *testing.T) {
	d, err := loadFile(t, "testdata/good/default.yaml", testPackerRoot)
	if err != nil {
		t.Fatal(err)
	}
	if d.VMIDs.Bases != (Range{First: 9800, Last: 9899}) {
		t.Errorf("bases %s", d.VMIDs.Bases)
	}
	var names []string
	for _, im := range d.Images {
		names = append(names, im.Name)
		if im.Storage != "local" || !slices.Equal(im.Nodes, []string{"pve1"}) || im.Line == 0 {
			t.Errorf("%s: storage %q nodes %v line %d, want the defaults local and [pve1]", im.Name, im.Storage, im.Nodes, im.Line)
		}
	}
	if got := strings.Join(names, " "); got != "ubuntu-22.04-cloud ubuntu-24.04-cloud rocky-9-cloud win2022-eval virtio-win" {
		t.Errorf("images %s", got)
	}

	noble, _ := d.Image("ubuntu-24.04-cloud")
	if noble.Kind != ImageCloud || noble.Format != "qcow2" || noble.Checksum != "" ||
		noble.URL != "https://cloud-images.ubuntu.com/releases/noble/release/{file}" ||
		noble.ChecksumURL != "https://cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS" ||
		noble.File != "noble-server-cloudimg-amd64.img" {
		t.Errorf("ubuntu-24.04-cloud = %+v", noble)
	}
	rocky, _ := d.Image("rocky-9-cloud")
	if rocky.File != "Rocky-9-GenericCloud-Base-9.*.x86_64.qcow2" || rocky.Format != "qcow2" {
		t.Errorf("rocky-9-cloud = %+v", rocky)
	}
	win, _ := d.Image("win2022-eval")
	if win.Kind != ImageISO || win.Format != "" || win.ChecksumURL != "" || win.File != "SERVER_EVAL_x64FRE_en-us.iso" ||
		win.Checksum != "sha256:3e4fa6d8507b554856fc9ca6079cc402df11a8b79344871669f0251535255325" {
		t.Errorf("win2022-eval = %+v", win)
	}
	if virtio, _ := d.Image("virtio-win"); virtio.File != "virtio-win-0.1.271.iso" {
		t.Errorf("virtio-win file %q, want the url's last element", virtio.File)
	}
	if _, ok := d.Image("nope"); ok {
		t.Error("Image found an image the file does not declare")
	}

	for name, want := range map[string]string{
		"tpl-ubuntu-22.04": "ubuntu-22.04-cloud", "tpl-ubuntu-24.04": "ubuntu-24.04-cloud",
		"tpl-rocky-9": "rocky-9-cloud", "tpl-win2022": "win2022-eval",
	} {
		if tpl, _ := d.Template(name); tpl.Image != want {
			t.Errorf("%s image %q, want %q", name, tpl.Image, want)
		}
	}
	if tpl, _ := d.Template("tpl-win2022"); !slices.Equal(tpl.ExtraImages, []string{"virtio-win"}) {
		t.Errorf("tpl-win2022 extra images %v", tpl.ExtraImages)
	}
	if tpl, _ := d.Template("tpl-rocky-9"); tpl.ExtraImages != nil {
		t.Errorf("tpl-rocky-9 extra images %v", tpl.ExtraImages)
	}
}

// TestImageNodesDefault: an image without nodes is on the sorted distinct
// nodes of the templates that use it, as image or extra image; nodes it
// names are kept as written.
func TestImageNodesDefault(t *testing.T) {
	d, err := loadFile(t, "testdata/good/images.yaml", testPackerRoot)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]string{
		"ubuntu-22.04-cloud": {"pve1", "pve2"}, // two templates
		"rocky-9-cloud":      {"pve3", "pve2"}, // as written
		"virtio-win":         {"pve2"},         // an extra image
		"spare-tools":        {"pve9"},         // used by none
	} {
		if im, _ := d.Image(name); !slices.Equal(im.Nodes, want) {
			t.Errorf("%s nodes %v, want %v", name, im.Nodes, want)
		}
	}
	if im, _ := d.Image("ubuntu-22.04-cloud"); im.Storage != "cephfs" {
		t.Errorf("storage %q, want defaults.iso_storage cephfs", im.Storage)
	}
}

// TestImageURLCredentialsNotEchoed: a URL with credentials is refused
// without a character of them, whatever else is wrong with it.
func TestImageURLCredentialsNotEchoed(t *testing.T) {
	const secret = "Zq7secretXw"
	for _, u := range []string{
		"https://user:" + secret + "@host/x.iso",
		"ftp://user:" + secret + "@host/x.iso",
		"https://" + secret + "@host/x.iso",
		"https://user:" + secret + "@host/ x.iso",
		"https://host:" + secret + "/x.iso",
		"https://user:" + secret + "@host/{file}/{file}",
	} {
		for _, key := range []string{"url", "checksum_url"} {
			file := "version: 1\ndefaults: {node: pve1}\nvmids: {templates: 9000-9199, staging: 9900-9949, previous: 9950-9999}\n" +
				"images:\n  - name: x\n    kind: iso\n    url: https://host/x.iso\n    file: x.iso\n    nodes: [pve1]\n" +
				"    " + key + ": \"" + u + "\"\ntemplates: []\n"
			if key == "url" {
				file = strings.Replace(file, "    url: https://host/x.iso\n", "    checksum_url: https://host/SUMS\n", 1)
			}
			_, err := Parse(strings.NewReader(file), "x.yaml", ParseOptions{})
			if err == nil || !strings.Contains(err.Error(), "images[0]."+key+": ") {
				t.Errorf("%s %s: %v", key, u, err)
				continue
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "Zq7") {
				t.Errorf("%s: error shows the secret: %v", key, err)
			}
		}
	}
}

func TestParseChecksum(t *testing.T) {
	hex64 := strings.Repeat("aB", 32)
	hex128 := strings.Repeat("0F", 64)
	for _, tc := range []struct{ in, want, err string }{
		{in: "sha256:" + hex64, want: "sha256:" + strings.ToLower(hex64)},
		{in: "sha512:" + hex128, want: "sha512:" + strings.ToLower(hex128)},
		{in: "sha512:" + hex64, err: "a sha512 checksum is 128 hex digits after sha512:, got 64"},
		{in: "sha256:", err: "a sha256 checksum is 64 hex digits after sha256:, got 0"},
		{in: "sha256:" + hex64[:63] + "g", err: "this one has other characters"},
		{in: "md5:" + hex64[:32], err: "only sha256 and sha512 checksums are accepted"},
		{in: "sha384:" + hex128[:96], err: "only sha256 and sha512"},
		{in: "Sha512:" + hex128, err: "write the algorithm in lower case: sha512:"},
		{in: hex128, err: "name the algorithm"},
		{in: "abc", err: "must be sha256:<64 hex digits> or sha512:<128 hex digits>"},
	} {
		got, err := parseChecksum(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("parseChecksum(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseChecksum(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
		}
	}
}

func TestCheckImageFile(t *testing.T) {
	for _, tc := range []struct {
		in          string
		iso, pinned bool
		err         string
	}{
		{in: "noble-server-cloudimg-amd64.img"},
		{in: "Rocky-9-GenericCloud-Base-9.*.x86_64.qcow2"},
		{in: "x-[0-9]?.qcow2"},
		{in: `x-\*.qcow2`},
		{in: "SERVER.ISO", iso: true, pinned: true},
		{in: "drivers.img", iso: true},
		{in: "*.zip", iso: true}, // a pattern's pick is checked when it is resolved
		{in: "drivers.zip", iso: true, err: "does not end in .iso or .img"},
		{in: "x*.img", pinned: true, err: "is a pattern"},
		{in: "[x.img", err: "is not a valid pattern"},
		{in: `x\`, err: "is not a valid pattern"},
		{in: "a/b.img", err: "without '/'"},
		{in: ".", err: "is not a file name"},
		{in: "", err: "must name a file"},
		{in: "a\tb.img", err: "whitespace"},
		{in: strings.Repeat("x", 256), err: "longer than 255 bytes"},
	} {
		err := checkImageFile(tc.in, tc.iso, tc.pinned)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("checkImageFile(%q, iso %t, pinned %t) = %v, want %q", tc.in, tc.iso, tc.pinned, err, tc.err)
		}
	}
}

func TestCheckImageURL(t *testing.T) {
	for _, tc := range []struct {
		in          string
		mayHoldFile bool
		err         string
	}{
		{in: "https://cloud-images.ubuntu.com/releases/noble/release/{file}", mayHoldFile: true},
		{in: "http://127.0.0.1:8080/get?name={file}", mayHoldFile: true},
		{in: "https://[::1]:8443/x.iso"},
		{in: "https://host"},
		{in: "HTTPS://host/x.iso", err: "must be an http:// or https:// URL"},
		{in: "file:///x.iso", err: "must be an http:// or https:// URL"},
		{in: "https://u@host/x", err: "credentials"},
		{in: "https://host/a b", err: "whitespace"},
		{in: "https://host/a\x00b", err: "whitespace or control"},
		{in: "https://?x", err: "has no host"},
		{in: "https://host/{file}", err: "may not contain {file}"},
		{in: "https://host/{file}/{file}", mayHoldFile: true, err: "more than once"},
		{in: "https://{file}.example/x", mayHoldFile: true, err: "in its host"},
		{in: "https://host:99999999999/x", err: "is not a valid URL"},
		{in: "https://host:x1/x", err: "is not a valid URL"},
		{in: "https://host:0/x", err: "is not a valid URL"},
		{in: "https://host/%zz", err: "is not a valid URL"},
	} {
		err := checkImageURL(tc.in, tc.mayHoldFile)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("checkImageURL(%q, %t) = %v, want %q", tc.in, tc.mayHoldFile, err, tc.err)
		}
	}
}

// BenchmarkParseImages parses a desired file of 200 templates that share
// 200 images (one each, plus one extra image on every iso template).
func BenchmarkParseImages(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("version: 1\ndefaults: {node: pve1, build: iso}\n")
	sb.WriteString("vmids: {templates: 9000-9199, staging: 9200-9249, previous: 9300-9599, bases: 9600-9699}\nimages:\n")
	sb.WriteString("  - {name: virtio-win, kind: iso, url: \"https://h/virtio-win.iso\", checksum: \"sha256:" + strings.Repeat("0", 64) + "\"}\n")
	for i := range 200 {
		sb.WriteString("  - {name: img-" + strconv.Itoa(i) + ", kind: iso, url: \"https://h/{file}\", checksum_url: \"https://h/SUMS\", file: \"x-" + strconv.Itoa(i) + "-*.iso\"}\n")
	}
	sb.WriteString("templates:\n")
	for i := range 200 {
		sb.WriteString("  - {name: tpl-ubuntu-" + strconv.Itoa(i) + ".04, vmid: " + strconv.Itoa(9000+i) + ", os: ubuntu, os_version: \"" + strconv.Itoa(i) + ".04\", release: 1.0.0," +
			" packer: linux/ubuntu, var_file: linux/ubuntu/u.pkrvars.hcl, image: img-" + strconv.Itoa(i) + ", extra_images: [virtio-win]}\n")
	}
	data := sb.String()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		d, err := Parse(strings.NewReader(data), "bench.yaml", ParseOptions{})
		if err != nil || len(d.Images) != 201 {
			b.Fatal(err)
		}
	}
}
