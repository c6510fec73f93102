package mirror

import (
	"encoding/binary"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"templated/internal/image"
)

// listing GETs a checksum file and parses it as templated does.
func listing(t *testing.T, s *Server, sumsURL string) ([]image.Entry, *http.Response) {
	t.Helper()
	resp, body := mustGet(t, s, sumsURL)
	entries, err := image.ParseChecksumFile(body)
	if err != nil {
		t.Fatalf("parse %s: %v\n%s", sumsURL, err, body)
	}
	return entries, resp
}

func entryFor(t *testing.T, entries []image.Entry, name string) image.Entry {
	t.Helper()
	e, err := image.Lookup(entries, name)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestChecksumFiles: each checksum file is in its vendor's layout, lists
// every file of its directory with the digest of the bytes served (and,
// for Rocky, their size), and parses as templated parses it.
func TestChecksumFiles(t *testing.T) {
	s := startMirror(t, Options{})
	gnu := regexp.MustCompile(`^[0-9a-f]{64} \*[^ ]+$`)
	bsd := regexp.MustCompile(`^(# [^ ]+: [0-9]+ bytes|SHA256 \([^ ]+\) = [0-9a-f]{64})$`)
	for sums, layout := range map[string]*regexp.Regexp{jammySums: gnu, nobleSums: gnu, rockySums: bsd} {
		_, body := mustGet(t, s, sums)
		for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
			if !layout.MatchString(line) {
				t.Errorf("%s: line %q", sums, line)
			}
		}
		entries, _ := listing(t, s, sums)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name)
			_, b := mustGet(t, s, dir(sums)+e.Name)
			if e.Checksum.Algorithm != image.SHA256 || e.Checksum.Hex != sha256Hex(b) {
				t.Errorf("%s lists %s as %s, served %s", sums, e.Name, e.Checksum, sha256Hex(b))
			}
			if layout == bsd && e.Size != int64(len(b)) {
				t.Errorf("%s gives %s %d bytes, served %d", sums, e.Name, e.Size, len(b))
			}
		}
		var want []string
		for _, u := range s.Files() {
			if dir(u) == dir(sums) {
				want = append(want, path.Base(u))
			}
		}
		if !slices.Equal(names, want) || len(names) != 3 {
			t.Errorf("%s lists %v, want %v", sums, names, want)
		}
	}
}

// TestPublishReplace: Ubuntu's new release has new bytes under the same
// name; the checksum file lists them; both change their ETag and (even on
// a stopped clock) their Last-Modified; the neighbours do not change.
func TestPublishReplace(t *testing.T) {
	clock := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s := startMirror(t, Options{Now: func() time.Time { return clock }})
	img0, _ := mustGet(t, s, jammyImg)
	entries, sums0 := listing(t, s, jammySums)
	old := s.Digest(jammyImg)
	if entryFor(t, entries, "jammy-server-cloudimg-amd64.img").Checksum.Hex != old {
		t.Fatal("checksum file and Digest disagree")
	}
	arm, noble := s.Digest(dir(jammyImg)+"jammy-server-cloudimg-arm64.img"), s.Digest(nobleSums)

	digest, err := s.Publish(jammyImg, "20250301")
	if err != nil {
		t.Fatal(err)
	}
	if digest == old || s.Digest(jammyImg) != digest {
		t.Fatalf("digest %s, was %s, Digest says %s", digest, old, s.Digest(jammyImg))
	}
	img1, body := mustGet(t, s, jammyImg)
	if sha256Hex(body) != digest || len(body) != 262144 {
		t.Errorf("served %s (%d bytes)", sha256Hex(body), len(body))
	}
	entries, sums1 := listing(t, s, jammySums)
	if got := entryFor(t, entries, "jammy-server-cloudimg-amd64.img").Checksum.Hex; got != digest {
		t.Errorf("checksum file lists %s", got)
	}
	for _, pair := range [][2]*http.Response{{img0, img1}, {sums0, sums1}} {
		if pair[0].Header.Get("ETag") == pair[1].Header.Get("ETag") {
			t.Errorf("%s: ETag unchanged", pair[1].Request.URL)
		}
		t0, _ := http.ParseTime(pair[0].Header.Get("Last-Modified"))
		t1, _ := http.ParseTime(pair[1].Header.Get("Last-Modified"))
		if !t1.After(t0) {
			t.Errorf("%s: Last-Modified %s, was %s", pair[1].Request.URL, t1, t0)
		}
	}
	r, _, _ := fetch(t, s, http.MethodGet, jammyImg, map[string]string{"If-None-Match": img0.Header.Get("ETag")})
	if r.StatusCode != http.StatusOK {
		t.Errorf("old ETag: %s", r.Status)
	}
	if s.Digest(dir(jammyImg)+"jammy-server-cloudimg-arm64.img") != arm || s.Digest(nobleSums) != noble {
		t.Error("a neighbour changed")
	}
	if len(s.Files()) != 11 {
		t.Errorf("files %v", s.Files())
	}
}

// TestPublishAdd: Rocky's point release adds a versioned file, which the
// desired file's pattern then picks; the older one stays listed.
func TestPublishAdd(t *testing.T) {
	s := startMirror(t, Options{})
	const pattern = "Rocky-9-GenericCloud-Base-9.*.x86_64.qcow2"
	entries, _ := listing(t, s, rockySums)
	if e := entryFor(t, entries, pattern); e.Name != path.Base(rockyBase) || e.Size != 262144 {
		t.Errorf("before: %+v", e)
	}
	old := s.Digest(rockyBase)
	for _, release := range []string{"9.6-20250601.0", "9.10-20260301.0"} {
		digest, err := s.Publish(rockyBase, release)
		if err != nil {
			t.Fatal(err)
		}
		name := "Rocky-9-GenericCloud-Base-" + release + ".x86_64.qcow2"
		if !slices.Contains(s.Files(), rockyDir+name) || s.Digest(rockyDir+name) != digest {
			t.Fatalf("%s: files %v", name, s.Files())
		}
		entries, _ = listing(t, s, rockySums)
		e := entryFor(t, entries, pattern)
		if e.Name != name || e.Checksum.Hex != digest || e.Size != 262144 {
			t.Errorf("%s: pattern picks %+v", release, e)
		}
		_, b := mustGet(t, s, rockyDir+name)
		if sha256Hex(b) != digest || binary.BigEndian.Uint64(b[24:]) != 10737418240 {
			t.Errorf("%s: served %s, virtual size %d", name, sha256Hex(b), binary.BigEndian.Uint64(b[24:]))
		}
	}
	if s.Digest(rockyBase) != old || entryFor(t, entries, path.Base(rockyBase)).Checksum.Hex != old {
		t.Error("the older release changed")
	}
	if len(entries) != 5 {
		t.Errorf("CHECKSUM lists %d files", len(entries))
	}
}

func TestPublishErrors(t *testing.T) {
	s := startMirror(t, Options{})
	if _, err := s.Publish(rockyBase, "9.6-20250601.0"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ url, release, err string }{
		{"https://example.com/x.iso", "1", "not a file of the catalog"},
		{nobleSums, "1", "not a file of the catalog"},
		{nobleImg, "", "empty release"},
		{nobleImg, "20250122", "already at release 20250122"},
		{rockyBase, "9.6-20250601.0", "is already published"},
		{rockyBase, "9.6/x", "holds a /"},
		{rockyBase, "x86", "must appear once in the file name"},
	} {
		if _, err := s.Publish(tc.url, tc.release); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Publish(%s, %q): %v, want %q", tc.url, tc.release, err, tc.err)
		}
	}
}

// TestPinnedChecksums: the files without a checksum file are given with
// the checksum of their bytes, which no vendor's pin can match.
func TestPinnedChecksums(t *testing.T) {
	s := startMirror(t, Options{})
	pins := s.PinnedChecksums()
	if len(pins) != 2 || pins[winISO] != "sha256:"+s.Digest(winISO) || pins[virtioISO] != "sha256:"+s.Digest(virtioISO) {
		t.Errorf("pins %v", pins)
	}
	if pins[winISO] == "sha256:3e4fa6d8507b554856fc9ca6079cc402df11a8b79344871669f0251535255325" {
		t.Error("the stand-in matched Microsoft's digest")
	}
	_, b := mustGet(t, s, winISO)
	if "sha256:"+sha256Hex(b) != pins[winISO] || string(b[32769:32774]) != "CD001" {
		t.Errorf("served %s", sha256Hex(b))
	}
	digest, err := s.Publish(winISO, "20348.2849")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.PinnedChecksums()[winISO]; got != "sha256:"+digest || got == pins[winISO] {
		t.Errorf("after publish: %s", got)
	}
}
