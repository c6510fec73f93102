package mirror

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"testing"
	"time"
)

// Upstream URLs of the default catalog.
const (
	jammyImg  = "https://cloud-images.ubuntu.com/releases/jammy/release/jammy-server-cloudimg-amd64.img"
	jammySums = "https://cloud-images.ubuntu.com/releases/jammy/release/SHA256SUMS"
	nobleImg  = "https://cloud-images.ubuntu.com/releases/noble/release/noble-server-cloudimg-amd64.img"
	nobleSums = "https://cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS"
	rockyDir  = "https://dl.rockylinux.org/pub/rocky/9/images/x86_64/"
	rockyBase = rockyDir + "Rocky-9-GenericCloud-Base-9.5-20241118.0.x86_64.qcow2"
	rockySums = rockyDir + "CHECKSUM"
	winISO    = "https://software-static.download.prss.microsoft.com/sg/download/888969d5-f34g-4e03-ac9d-1f9786c66749/SERVER_EVAL_x64FRE_en-us.iso"
	virtioISO = "https://fedorapeople.org/groups/virt/virtio-win/direct-downloads/archive-virtio/virtio-win-0.1.271-1/virtio-win-0.1.271.iso"
)

// startMirror starts a mirror and closes it at the end of the test.
func startMirror(t testing.TB, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatalf("start mirror: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close mirror: %v", err)
		}
	})
	return s
}

// fetch sends a request for an upstream URL to the mirror with the given
// headers and returns the answer and its whole body.
func fetch(t testing.TB, s *Server, method, upstream string, hdr map[string]string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest(method, s.MirrorURL(upstream), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, upstream, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// mustGet GETs an upstream URL and fails the test unless it is a 200.
func mustGet(t testing.TB, s *Server, upstream string) (*http.Response, []byte) {
	t.Helper()
	resp, body, err := fetch(t, s, http.MethodGet, upstream, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", upstream, resp.Status, err)
	}
	return resp, body
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
