package image

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkAgainstNames checks every entry's digest against its own name (see
// fixtureHex) and that the file's non-comment lines all became entries.
func checkAgainstNames(t *testing.T, data []byte, l Listing, alg Algorithm) {
	t.Helper()
	lines := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "SHA256 (") || len(line) > 64 && isHex(line[:64]) {
			lines++
		}
	}
	if len(l.Entries) != lines {
		t.Errorf("got %d entries, want %d", len(l.Entries), lines)
	}
	if len(l.Skipped) != 0 {
		t.Errorf("skipped %v", l.Skipped)
	}
	for _, e := range l.Entries {
		if e.Checksum.Algorithm != alg || e.Checksum.Hex != fixtureHex(alg, e.Name) {
			t.Errorf("line %d %q: %s, want %s:%s", e.Line, e.Name, e.Checksum, alg, fixtureHex(alg, e.Name))
		}
		if strings.HasPrefix(e.Name, "*") || strings.HasPrefix(e.Name, " ") {
			t.Errorf("line %d: name %q keeps its mode marker", e.Line, e.Name)
		}
	}
}

func TestParseVendorFiles(t *testing.T) {
	cases := []struct {
		file        string
		alg         Algorithm
		clearsigned bool
		probe       string
		size        int64
	}{
		{"ubuntu-noble-cloud-SHA256SUMS", SHA256, false, "noble-server-cloudimg-amd64.img", 0},
		{"ubuntu-noble-releases-SHA256SUMS", SHA256, false, "ubuntu-24.04.2-live-server-amd64.iso", 0},
		{"debian-12-cloud-SHA512SUMS", SHA512, false, "debian-12-genericcloud-amd64.qcow2", 0},
		{"rocky-9.4-x86_64-CHECKSUM", SHA256, true, "Rocky-9.4-x86_64-minimal.iso", 1805256704},
		{"rocky-9-multi-CHECKSUM", SHA256, false, "Rocky-9.10-x86_64-dvd.iso", 10980835328},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			data := readFixture(t, c.file)
			for _, variant := range []struct {
				name string
				data []byte
			}{{"LF", data}, {"CRLF", []byte(strings.ReplaceAll(string(data), "\n", "\r\n"))}} {
				l, err := ParseListing(variant.data)
				if err != nil {
					t.Fatalf("%s: %v", variant.name, err)
				}
				checkAgainstNames(t, data, l, c.alg)
				if l.Clearsigned != c.clearsigned {
					t.Errorf("%s: Clearsigned = %v, want %v", variant.name, l.Clearsigned, c.clearsigned)
				}
				e, err := Lookup(l.Entries, c.probe)
				if err != nil {
					t.Fatalf("%s: Lookup(%q): %v", variant.name, c.probe, err)
				}
				if e.Size != c.size {
					t.Errorf("%s: %s size %d, want %d", variant.name, e.Name, e.Size, c.size)
				}
			}
		})
	}
}

func TestParseRockyLineNumbersCountTheArmour(t *testing.T) {
	l, err := ParseListing(readFixture(t, "rocky-9.4-x86_64-CHECKSUM"))
	if err != nil {
		t.Fatal(err)
	}
	// Line 1 is the BEGIN line, 2 "Hash:", 3 blank, 4 the first size
	// comment, 5 the first checksum line.
	if l.Entries[0].Line != 5 || l.Entries[0].Name != "Rocky-9.4-x86_64-boot.iso" {
		t.Errorf("first entry = %+v, want Rocky-9.4-x86_64-boot.iso at line 5", l.Entries[0])
	}
}

func TestParseLineForms(t *testing.T) {
	h := fixtureHex(SHA256, "a")
	H := strings.ToUpper(h)
	h512 := fixtureHex(SHA512, "a")
	data := strings.Join([]string{
		"# made by hand",
		"",
		h + "  ./dir/text mode.iso",
		H + " *binary.img",
		h + " single-space.qcow2",
		`\` + h + `  new\nline\\name`,
		"SHA256 (paren (1).iso) = " + h,
		"sha512 (lower-tag.raw) = " + h512,
		"SHA2-256 (cksum-a-sha2.iso) = " + H,
		"   ",
	}, "\n")
	l, err := ParseListing([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		alg  Algorithm
	}{
		{"dir/text mode.iso", SHA256}, {"binary.img", SHA256}, {"single-space.qcow2", SHA256},
		{"new\nline\\name", SHA256}, {"paren (1).iso", SHA256}, {"lower-tag.raw", SHA512}, {"cksum-a-sha2.iso", SHA256},
	}
	if len(l.Entries) != len(want) || len(l.Skipped) != 0 {
		t.Fatalf("entries %+v skipped %v", l.Entries, l.Skipped)
	}
	for i, w := range want {
		e := l.Entries[i]
		if e.Name != w.name || e.Checksum.Algorithm != w.alg || (w.alg == SHA256 && e.Checksum.Hex != h) {
			t.Errorf("entry %d = %q %s, want %q %s", i, e.Name, e.Checksum, w.name, w.alg)
		}
	}
	if l.Entries[0].Line != 3 || l.Entries[6].Line != 9 {
		t.Errorf("line numbers %d, %d; want 3, 9", l.Entries[0].Line, l.Entries[6].Line)
	}
}

func TestParseClearsignedDashEscapedAndTrailingText(t *testing.T) {
	h := fixtureHex(SHA256, "b")
	data := "\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" +
		"- -----not armour, dash-escaped\n" + // an unreadable signed line: skipped
		h + " *signed.iso\n" +
		"- " + h + " *escaped.iso\n" + // any signed line may be dash-escaped
		"-----BEGIN PGP SIGNATURE-----\n\niQ==\n-----END PGP SIGNATURE-----\n" +
		fixtureHex(SHA256, "c") + " *appended-after-signature.iso\n"
	l, err := ParseListing([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if !l.Clearsigned || len(l.Entries) != 2 || l.Entries[0].Name != "signed.iso" || l.Entries[1].Name != "escaped.iso" {
		t.Fatalf("got %+v, want signed.iso and escaped.iso from the signed text only", l)
	}
	if len(l.Skipped) != 1 || l.Skipped[0].Line != 5 {
		t.Errorf("skipped %v, want line 5", l.Skipped)
	}
}

func TestParseRefusesUnreadableFiles(t *testing.T) {
	h := fixtureHex(SHA256, "d")
	cases := []struct{ name, data, want string }{
		{"empty", "", "no checksum lines"},
		{"comments only", "# nothing\n\n", "no checksum lines"},
		{"html", "<html>\n<body>Not Found</body>\n</html>\n", "line 1: not a checksum line; line 2: not a checksum line; line 3: not a checksum line"},
		{"md5 only", h[:32] + "  a.iso\nMD5 (b.iso) = " + h[:32] + "\n", "line 1: md5: algorithm not accepted"},
		{"sha1 tag", "SHA1 (b.iso) = " + h[:40] + "\n", "line 1: sha1: algorithm not accepted"},
		{"odd length", h[:50] + "  a.iso\n", "line 1: a digest of 50 hex digits"},
		{"tag length", "SHA512 (a.iso) = " + h + "\n", "line 1: sha512 digest has 64 hex digits, want 128"},
		{"no name", h + "  \n", "line 1: checksum line without a file name"},
		{"bad escape", `\` + h + `  a\tb` + "\n", `line 1: unknown escape \t`},
		{"many", strings.Repeat("junk\n", 5), "line 3: not a checksum line (and 2 more)"},
		{"truncated clearsign", "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + h + " *a.iso\n", "no signature block"},
	}
	for _, c := range cases {
		_, err := ParseChecksumFile([]byte(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

func TestParseSkipsBadLinesBesideGoodOnes(t *testing.T) {
	h := fixtureHex(SHA256, "e")
	data := "garbage line\n" + h + "  good.iso\n" + h[:40] + "  legacy.iso\n"
	l, err := ParseListing([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 1 || l.Entries[0].Name != "good.iso" {
		t.Fatalf("entries %+v", l.Entries)
	}
	if len(l.Skipped) != 2 || l.Skipped[0].Line != 1 || l.Skipped[1].Line != 3 || !errors.Is(l.Skipped[1], ErrRefusedAlgorithm) {
		t.Errorf("skipped %v, want lines 1 and 3 (the latter refused)", l.Skipped)
	}
}
