package mirror

import (
	"errors"
	"io"
	"net/http"
	"testing"
)

// TestFaults: each fault spoils the file's GETs as it says, leaves the
// checksum files alone, applies to a file published later, and FaultNone
// mends it.
func TestFaults(t *testing.T) {
	s := startMirror(t, Options{})
	size := 262144

	s.SetFault(nobleImg, FaultNotFound)
	s.SetFault(nobleSums, FaultNotFound)
	if r, _, _ := fetch(t, s, http.MethodGet, nobleImg, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("not found: %s", r.Status)
	}
	if r, _, _ := fetch(t, s, http.MethodHead, nobleImg, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("not found, HEAD: %s", r.Status)
	}
	mustGet(t, s, nobleSums)

	s.SetFault(nobleImg, FaultCut)
	r, body, err := fetch(t, s, http.MethodGet, nobleImg, nil)
	if r.StatusCode != http.StatusOK || r.ContentLength != int64(size) || !errors.Is(err, io.ErrUnexpectedEOF) || len(body) != size/2 {
		t.Errorf("cut: %s, length %d, got %d bytes, %v", r.Status, r.ContentLength, len(body), err)
	}
	if r, b, err := fetch(t, s, http.MethodHead, nobleImg, nil); err != nil || r.StatusCode != 200 || len(b) != 0 || r.ContentLength != int64(size) {
		t.Errorf("cut, HEAD: %s, %v", r.Status, err)
	}

	s.SetFault(nobleImg, FaultCorrupt)
	entries, _ := listing(t, s, nobleSums)
	listed := entryFor(t, entries, "noble-server-cloudimg-amd64.img").Checksum.Hex
	_, body = mustGet(t, s, nobleImg)
	if len(body) != size || sha256Hex(body) == listed || listed != s.Digest(nobleImg) {
		t.Errorf("corrupt: %d bytes, sha256 %s, listed %s", len(body), sha256Hex(body), listed)
	}
	if string(body[:4]) != "QFI\xfb" {
		t.Error("corrupt: header spoilt too")
	}

	s.SetFault(nobleImg, FaultNone)
	if _, body = mustGet(t, s, nobleImg); sha256Hex(body) != listed {
		t.Error("mended: still spoilt")
	}
	if n := s.Requests(nobleImg); n != 4 {
		t.Errorf("%d GETs counted, want 4 (spoilt ones too)", n)
	}

	next := rockyDir + "Rocky-9-GenericCloud-Base-9.6-20250601.0.x86_64.qcow2"
	s.SetFault(next, FaultNotFound)
	if _, err := s.Publish(rockyBase, "9.6-20250601.0"); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := fetch(t, s, http.MethodGet, next, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("published later: %s", r.Status)
	}
	if FaultCut.String() != "cut" || Fault(9).String() != "Fault(9)" {
		t.Error("Fault.String")
	}
}
