package mirror

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"templated/internal/image"
)

// TestServe: every file and checksum file is served under /<host>/<path>
// with its length, validators and true digest; HEAD sends the headers
// only; unknown paths are 404 and other methods 405.
func TestServe(t *testing.T) {
	s := startMirror(t, Options{})
	all := append(s.Files(), jammySums, nobleSums, rockySums)
	if len(all) != 14 {
		t.Errorf("serves %d files: %v", len(all), all)
	}
	for _, u := range all {
		resp, body := mustGet(t, s, u)
		if got := sha256Hex(body); got != s.Digest(u) {
			t.Errorf("%s: sha256 %s, Digest says %s", u, got, s.Digest(u))
		}
		if resp.ContentLength != int64(len(body)) || resp.Header.Get("ETag") == "" {
			t.Errorf("%s: length %d for %d bytes, ETag %q", u, resp.ContentLength, len(body), resp.Header.Get("ETag"))
		}
		if _, err := http.ParseTime(resp.Header.Get("Last-Modified")); err != nil {
			t.Errorf("%s: Last-Modified %q", u, resp.Header.Get("Last-Modified"))
		}
		head, hb, err := fetch(t, s, http.MethodHead, u, nil)
		if err != nil || head.StatusCode != 200 || len(hb) != 0 || head.Header.Get("Content-Length") != strconv.Itoa(len(body)) ||
			head.Header.Get("ETag") != resp.Header.Get("ETag") {
			t.Errorf("HEAD %s: %s, %d body bytes, %v, length %s", u, head.Status, len(hb), err, head.Header.Get("Content-Length"))
		}
		if n := s.Requests(u); n != 1 {
			t.Errorf("%s: %d requests counted after one GET and one HEAD", u, n)
		}
	}
	if ct := mustGetHeader(t, s, nobleSums, "Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("checksum file Content-Type %q", ct)
	}
	if ct := mustGetHeader(t, s, nobleImg, "Content-Type"); ct != "application/octet-stream" {
		t.Errorf("image Content-Type %q", ct)
	}
	for _, u := range []string{s.URL() + "/", s.URL() + "/cloud-images.ubuntu.com/releases/noble/release/nope.img",
		s.URL() + "/cloud-images.ubuntu.com/releases/noble/release/"} {
		resp, err := http.Get(u)
		if err != nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %v %v", u, resp.Status, err)
		}
		resp.Body.Close()
	}
	resp, err := http.Post(s.MirrorURL(nobleImg), "text/plain", strings.NewReader("x"))
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %v %v", resp.Status, err)
	}
	resp.Body.Close()
}

func mustGetHeader(t *testing.T, s *Server, u, key string) string {
	t.Helper()
	resp, _ := mustGet(t, s, u)
	return resp.Header.Get(key)
}

// TestConditional: a GET with the ETag or the Last-Modified it got is
// answered 304 without a body, and counted; another ETag gets the file.
func TestConditional(t *testing.T) {
	s := startMirror(t, Options{})
	resp, body := mustGet(t, s, nobleImg)
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	for _, tc := range []struct {
		hdr    map[string]string
		status int
	}{
		{map[string]string{"If-None-Match": etag}, http.StatusNotModified},
		{map[string]string{"If-Modified-Since": lm}, http.StatusNotModified},
		{map[string]string{"If-None-Match": etag, "If-Modified-Since": lm}, http.StatusNotModified},
		{map[string]string{"If-None-Match": `"other"`, "If-Modified-Since": lm}, http.StatusOK},
	} {
		r, b, err := fetch(t, s, http.MethodGet, nobleImg, tc.hdr)
		if err != nil || r.StatusCode != tc.status {
			t.Errorf("%v: %s, %v", tc.hdr, r.Status, err)
		}
		if tc.status == http.StatusNotModified && (len(b) != 0 || r.Header.Get("ETag") != etag) {
			t.Errorf("%v: 304 with %d bytes, ETag %q", tc.hdr, len(b), r.Header.Get("ETag"))
		}
		if tc.status == http.StatusOK && len(b) != len(body) {
			t.Errorf("%v: %d bytes", tc.hdr, len(b))
		}
	}
	if n := s.Requests(nobleImg); n != 5 {
		t.Errorf("%d GETs counted, want 5", n)
	}
}

// TestFetcherThroughMirrors: templated's checksum-file fetcher, given the
// vendor's URL rewritten by Mirrors, finds the image's true digest,
// revalidates with a 304, and sees a release the vendor publishes.
func TestFetcherThroughMirrors(t *testing.T) {
	s := startMirror(t, Options{})
	ms, err := ParseMirrors(s.Mirrors())
	if err != nil {
		t.Fatal(err)
	}
	f := &image.Fetcher{MinInterval: -1}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resolve := func() image.Resolved {
		t.Helper()
		r, err := f.Resolve(ctx, Rewrite(ms, nobleSums), "noble-server-cloudimg-amd64.img")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := resolve()
	if first.Checksum.String() != "sha256:"+s.Digest(nobleImg) || first.FromCache {
		t.Errorf("first: %+v, want %s", first, s.Digest(nobleImg))
	}
	if again := resolve(); again.Checksum != first.Checksum || !again.FromCache {
		t.Errorf("again: %+v", again)
	}
	digest, err := s.Publish(nobleImg, "20250301")
	if err != nil {
		t.Fatal(err)
	}
	if after := resolve(); after.Checksum.String() != "sha256:"+digest || after.FromCache {
		t.Errorf("after publish: %+v, want %s", after, digest)
	}
	if st := f.Stats(); st.Requests != 3 || st.NotModified != 1 || s.Requests(nobleSums) != 3 {
		t.Errorf("fetcher %+v, mirror counted %d", st, s.Requests(nobleSums))
	}
}

// TestMirrors: the TEMPLATED_IMAGE_MIRRORS value maps each vendor origin
// to the mirror, and rewrites every file's URL to where it is served.
func TestMirrors(t *testing.T) {
	s := startMirror(t, Options{})
	v := s.Mirrors()
	if !strings.Contains(v, "https://cloud-images.ubuntu.com/="+s.URL()+"/cloud-images.ubuntu.com/") {
		t.Errorf("Mirrors() = %q", v)
	}
	ms, err := ParseMirrors(v)
	if err != nil || len(ms) != 4 {
		t.Fatalf("ParseMirrors(%q): %v, %v", v, ms, err)
	}
	for _, u := range append(s.Files(), rockySums) {
		if got := Rewrite(ms, u); got != s.MirrorURL(u) || !strings.HasPrefix(got, s.URL()+"/") {
			t.Errorf("Rewrite(%s) = %s, served at %s", u, got, s.MirrorURL(u))
		}
		mustGet(t, s, u)
	}
	if got := s.MirrorURL("https://example.com/x.iso"); got != "" {
		t.Errorf("MirrorURL of another origin: %q", got)
	}
}

// TestListenLoopbackOnly: the mirror refuses to listen beyond loopback.
func TestListenLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "[::]:0", "example.com:0"} {
		if s, err := Start(Options{Listen: addr}); err == nil || !strings.Contains(err.Error(), "only listens on loopback") {
			t.Errorf("%s: %v", addr, err)
			if s != nil {
				s.Close()
			}
		}
	}
	if _, err := Start(Options{Listen: "127.0.0.1"}); err == nil {
		t.Error("took an address without a port")
	}
	s := startMirror(t, Options{Listen: "localhost:0"})
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") && !strings.HasPrefix(s.URL(), "http://[::1]:") {
		t.Errorf("URL %s", s.URL())
	}
	mustGet(t, s, virtioISO)
}

// TestRequestLog: each request is logged at debug level with its fields.
func TestRequestLog(t *testing.T) {
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	s := startMirror(t, Options{Log: log})
	s.SetFault(nobleImg, FaultCut)
	mustGet(t, s, jammyImg)
	_, _, _ = fetch(t, s, http.MethodGet, nobleImg, nil)
	// The handler logs when it returns, which may be after the client has
	// read the answer: wait for the entries.
	got := map[any]logrus.Fields{}
	for deadline := time.Now().Add(10 * time.Second); len(got) < 2 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		for _, e := range hook.AllEntries() {
			if e.Message == "mirror request" && e.Level == logrus.DebugLevel {
				got[e.Data["upstream"]] = e.Data
			}
		}
	}
	if len(got) != 2 {
		t.Fatalf("request entries %v", got)
	}
	if f := got[jammyImg]; f["method"] != "GET" || f["path"] != "/cloud-images.ubuntu.com/releases/jammy/release/jammy-server-cloudimg-amd64.img" ||
		f["status"] != 200 || f["bytes"] != int64(262144) || f["fault"] != nil {
		t.Errorf("entry %v", f)
	}
	if f := got[nobleImg]; f["fault"] != "cut" || f["bytes"] != int64(131072) {
		t.Errorf("cut entry %v", f)
	}
}
