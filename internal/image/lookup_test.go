package image

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func fixtureEntries(t *testing.T, file string) []Entry {
	t.Helper()
	es, err := ParseChecksumFile(readFixture(t, file))
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestLookupPatternPicksHighestVersion(t *testing.T) {
	cases := []struct{ file, pattern, want string }{
		// 9.10 is above 9.4 (a string comparison would pick 9.4).
		{"rocky-9-multi-CHECKSUM", "Rocky-9.*-x86_64-minimal.iso", "Rocky-9.10-x86_64-minimal.iso"},
		{"rocky-9-multi-CHECKSUM", "Rocky-9.?-x86_64-dvd.iso", "Rocky-9.4-x86_64-dvd.iso"},
		// 24.04.2 > 24.04.1 > 24.04 (no point number).
		{"ubuntu-noble-releases-SHA256SUMS", "ubuntu-24.04*-live-server-amd64.iso", "ubuntu-24.04.2-live-server-amd64.iso"},
		{"ubuntu-noble-releases-SHA256SUMS", "ubuntu-24.04.[01]-desktop-amd64.iso", "ubuntu-24.04.1-desktop-amd64.iso"},
		// One match needs no versions.
		{"rocky-9.4-x86_64-CHECKSUM", "Rocky-9.*-x86_64-minimal.iso", "Rocky-9.4-x86_64-minimal.iso"},
		{"debian-12-cloud-SHA512SUMS", "debian-12-genericcloud-amd64.qcow2", "debian-12-genericcloud-amd64.qcow2"},
	}
	for _, c := range cases {
		e, err := Lookup(fixtureEntries(t, c.file), c.pattern)
		if err != nil {
			t.Errorf("%s %q: %v", c.file, c.pattern, err)
			continue
		}
		if e.Name != c.want || e.Checksum.Hex != fixtureHex(e.Checksum.Algorithm, c.want) {
			t.Errorf("%s %q = %q %s, want %q", c.file, c.pattern, e.Name, e.Checksum, c.want)
		}
	}
}

func TestLookupOrderDoesNotMatter(t *testing.T) {
	es := fixtureEntries(t, "rocky-9-multi-CHECKSUM")
	for i := range es { // every rotation of the list
		rot := append(append([]Entry{}, es[i:]...), es[:i]...)
		e, err := Lookup(rot, "Rocky-9.*-x86_64-minimal.iso")
		if err != nil || e.Name != "Rocky-9.10-x86_64-minimal.iso" {
			t.Fatalf("rotation %d: %q, %v", i, e.Name, err)
		}
	}
}

func TestLookupRefusesAmbiguity(t *testing.T) {
	h := fixtureHex(SHA256, "x")
	mk := func(names ...string) []Entry {
		var es []Entry
		for i, n := range names {
			es = append(es, Entry{Name: n, Checksum: Checksum{SHA256, h}, Line: i + 1})
		}
		return es
	}
	cases := []struct {
		name    string
		entries []Entry
		pattern string
		want    []string
	}{
		{"flavours", fixtureEntries(t, "rocky-9-multi-CHECKSUM"), "Rocky-9.10-x86_64-*.iso",
			[]string{"Rocky-9.10-x86_64-dvd.iso", "Rocky-9.10-x86_64-minimal.iso", "differ in more than their version"}},
		{"equal versions", mk("os-9.4.iso", "os-9.04.iso"), "os-*.iso",
			[]string{"os-9.04.iso, os-9.4.iso", "no single highest version"}},
		{"not a version", mk("os-1.iso", "os-99999999999999999999.iso"), "os-*.iso",
			[]string{"os-1.iso, os-99999999999999999999.iso", "is not a version"}},
		{"no numbers", mk("os-a.iso", "os-b.iso"), "os-?.iso", []string{"os-a.iso, os-b.iso"}},
	}
	for _, c := range cases {
		_, err := Lookup(c.entries, c.pattern)
		if !errors.Is(err, ErrAmbiguous) {
			t.Errorf("%s: err = %v, want ErrAmbiguous", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v does not mention %q", c.name, err, w)
			}
		}
	}
}

func TestLookupNotFoundNamesNearby(t *testing.T) {
	es := fixtureEntries(t, "ubuntu-noble-cloud-SHA256SUMS")
	_, err := Lookup(es, "noble-server-cloudimg-amd46.img")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	msg := err.Error()
	_, near, _ := strings.Cut(msg, "nearby: ")
	if got := len(strings.Split(strings.TrimSuffix(near, ")"), ", ")); got != 5 {
		t.Errorf("%d nearby names in %q, want 5", got, msg)
	}
	if !strings.HasPrefix(near, "noble-server-cloudimg-amd64.img,") {
		t.Errorf("nearest should be the one-transposition name first: %q", msg)
	}
	if _, err := Lookup(nil, "x.iso"); !errors.Is(err, ErrNotFound) || strings.Contains(err.Error(), "nearby") {
		t.Errorf("empty list: %v", err)
	}
	if _, err := Lookup(es, "noble-[.img"); err == nil || !strings.Contains(err.Error(), "syntax error in pattern") {
		t.Errorf("bad pattern: %v", err)
	}
}

func TestLookupDuplicates(t *testing.T) {
	a, b := fixtureHex(SHA256, "a"), fixtureHex(SHA256, "b")
	s512 := fixtureHex(SHA512, "a")
	es := []Entry{
		{Name: "x.iso", Checksum: Checksum{SHA256, a}, Line: 1},
		{Name: "x.iso", Checksum: Checksum{SHA512, s512}, Line: 2},
		{Name: "x.iso", Checksum: Checksum{SHA256, a}, Line: 3},
	}
	e, err := Lookup(es, "x.iso")
	if err != nil || e.Checksum.Algorithm != SHA512 || e.Line != 2 {
		t.Errorf("got %+v, %v; want the sha512 entry", e, err)
	}
	es = append(es, Entry{Name: "x.iso", Checksum: Checksum{SHA256, b}, Line: 4})
	_, err = Lookup(es, "x.iso")
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("different sha256 digests (lines %d and %d)", 1, 4)) {
		t.Errorf("conflicting digests: %v", err)
	}
}
