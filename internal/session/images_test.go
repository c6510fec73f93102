package session

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"templated/internal/image"
	"templated/internal/mirror"
	"templated/internal/state"
	"templated/internal/workspace"
)

// Upstream URLs of the mirror's default catalog.
const (
	nobleDir  = "https://cloud-images.ubuntu.com/releases/noble/release/"
	nobleImg  = nobleDir + "noble-server-cloudimg-amd64.img"
	nobleSums = nobleDir + "SHA256SUMS"
	rockyDir  = "https://dl.rockylinux.org/pub/rocky/9/images/x86_64/"
	rockySums = rockyDir + "CHECKSUM"
	rockyBase = rockyDir + "Rocky-9-GenericCloud-Base-9.5-20241118.0.x86_64.qcow2"
	virtioISO = "https://fedorapeople.org/groups/virt/virtio-win/direct-downloads/archive-virtio/virtio-win-0.1.271-1/virtio-win-0.1.271.iso"
	winISO    = "https://software-static.download.prss.microsoft.com/sg/download/888969d5-f34g-4e03-ac9d-1f9786c66749/SERVER_EVAL_x64FRE_en-us.iso"
)

// startImageMirror starts the loopback stand-in for the vendors' sites and
// returns it with the mappings its TEMPLATED_IMAGE_MIRRORS value gives.
func startImageMirror(t *testing.T) (*mirror.Server, []mirror.Mapping) {
	t.Helper()
	srv, err := mirror.Start(mirror.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ms, err := mirror.ParseMirrors(srv.Mirrors())
	if err != nil {
		t.Fatal(err)
	}
	return srv, ms
}

// loopbackOnly refuses every request that would leave loopback, so that a
// URL the mirrors do not rewrite fails instead of reaching a vendor.
type loopbackOnly struct{ next http.RoundTripper }

func (l loopbackOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if ip := net.ParseIP(r.URL.Hostname()); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("test refuses to reach %s", r.URL.Host)
	}
	return l.next.RoundTrip(r)
}

// testClock is a settable clock for the fetcher.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func testFetcher(t *testing.T, clock *testClock) *image.Fetcher {
	f := &image.Fetcher{Client: &http.Client{Transport: loopbackOnly{http.DefaultTransport}},
		CacheDir: t.TempDir(), MinInterval: time.Hour}
	if clock != nil {
		f.Now = clock.Now
	}
	return f
}

func nobleImage() state.Image {
	return state.Image{Name: "ubuntu-24.04-cloud", Kind: state.ImageCloud, URL: nobleDir + "{file}", ChecksumURL: nobleSums,
		File: "noble-server-cloudimg-amd64.img", Format: "qcow2", Storage: "local", Nodes: []string{"pve1", "pve3"}}
}

// TestResolveImages: a checksum-file image, a pattern that picks the
// highest version, a pinned one (no request) and one whose checksum file
// is missing resolve together through the mirrors; the vendors are never
// asked (the client refuses anything off loopback, and the mirror counts
// the requests it served).
func TestResolveImages(t *testing.T) {
	srv, ms := startImageMirror(t)
	rocky96, err := srv.Publish(rockyBase, "9.6-20250601.0")
	if err != nil {
		t.Fatal(err)
	}
	pinned := srv.PinnedChecksums()[winISO]
	d := &state.Desired{Images: []state.Image{
		nobleImage(),
		{Name: "rocky-9-cloud", Kind: state.ImageCloud, URL: rockyDir + "{file}", ChecksumURL: rockySums,
			File: "Rocky-9-GenericCloud-Base-*.x86_64.qcow2", Storage: "local", Nodes: []string{"pve1"}},
		{Name: "win2022-eval", Kind: state.ImageISO, URL: winISO, Checksum: pinned, Storage: "local", Nodes: []string{"pve1"}},
		{Name: "ubuntu-24.10-cloud", Kind: state.ImageCloud, URL: "https://cloud-images.ubuntu.com/releases/oracular/release/{file}",
			ChecksumURL: "https://cloud-images.ubuntu.com/releases/oracular/release/SHA256SUMS", File: "oracular-server-cloudimg-amd64.img",
			Storage: "local", Nodes: []string{"pve1"}},
	}}
	f := testFetcher(t, nil)
	got := resolveImages(context.Background(), f, d, ms)
	if len(got) != 4 {
		t.Fatalf("%d images resolved, want 4: %v", len(got), got)
	}

	noble := got["ubuntu-24.04-cloud"]
	want := state.ResolvedImage{Name: "ubuntu-24.04-cloud", Kind: state.ImageCloud, File: "noble-server-cloudimg-amd64.img",
		URL: nobleImg, FetchURL: srv.MirrorURL(nobleImg), Checksum: "sha256:" + srv.Digest(nobleImg), SumsURL: nobleSums,
		Storage: "local", Nodes: []string{"pve1", "pve3"}, Format: "qcow2"}
	if !equalResolved(noble, want) {
		t.Errorf("checksum file:\n got %+v\nwant %+v", noble, want)
	}

	rocky := got["rocky-9-cloud"]
	file := "Rocky-9-GenericCloud-Base-9.6-20250601.0.x86_64.qcow2"
	if rocky.Err != "" || rocky.File != file || rocky.Checksum != "sha256:"+rocky96 || rocky.Size != 262144 ||
		rocky.URL != rockyDir+file || rocky.FetchURL != srv.MirrorURL(rockyDir+file) {
		t.Errorf("pattern: %+v, want %s (sha256:%s, 262144 bytes, from the CHECKSUM's size comment)", rocky, file, rocky96)
	}

	win := got["win2022-eval"]
	want = state.ResolvedImage{Name: "win2022-eval", Kind: state.ImageISO, File: "SERVER_EVAL_x64FRE_en-us.iso",
		URL: winISO, FetchURL: srv.MirrorURL(winISO), Checksum: pinned, Storage: "local", Nodes: []string{"pve1"}}
	if !equalResolved(win, want) {
		t.Errorf("pinned:\n got %+v\nwant %+v", win, want)
	}

	gone := got["ubuntu-24.10-cloud"]
	if !strings.Contains(gone.Err, "404") || gone.File != "" || gone.Checksum != "" || gone.Kind != state.ImageCloud || gone.Storage != "local" {
		t.Errorf("missing checksum file: %+v, want Err with the 404 and no file or checksum", gone)
	}

	if n := srv.Requests(nobleSums); n != 1 {
		t.Errorf("noble's SHA256SUMS served %d times, want 1", n)
	}
	if n := srv.Requests(rockySums); n != 1 {
		t.Errorf("Rocky's CHECKSUM served %d times, want 1", n)
	}
	if n := srv.Requests(winISO); n != 0 {
		t.Errorf("the pinned image was fetched %d times, want 0", n)
	}
	if s := f.Stats(); s.Requests != 3 || s.Errors != 1 {
		t.Errorf("fetcher stats %+v, want 3 requests (noble, Rocky, the missing one), 1 failed", s)
	}

	if resolveImages(context.Background(), f, &state.Desired{}, ms) != nil {
		t.Error("no images: want nil")
	}
}

// equalResolved compares a and b.
func equalResolved(a, b state.ResolvedImage) bool {
	return a.Size == b.Size && a.Name == b.Name && a.Kind == b.Kind && a.File == b.File && a.URL == b.URL && a.FetchURL == b.FetchURL &&
		a.Checksum == b.Checksum && a.SumsURL == b.SumsURL && a.Storage == b.Storage && slices.Equal(a.Nodes, b.Nodes) &&
		a.Format == b.Format && a.Err == b.Err
}

// TestResolveImagesInterval: within the interval a checksum file is not
// asked for again, even when the vendor has published meanwhile; after
// it, the fetcher asks conditionally and sees the new release, then gets
// a 304 for an unchanged file. A new fetcher over the same cache
// directory within the interval asks nothing either.
func TestResolveImagesInterval(t *testing.T) {
	srv, ms := startImageMirror(t)
	clock := &testClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	f := testFetcher(t, clock)
	d := &state.Desired{Images: []state.Image{nobleImage()}}
	resolve := func() state.ResolvedImage {
		t.Helper()
		r := resolveImages(context.Background(), f, d, ms)["ubuntu-24.04-cloud"]
		if r.Err != "" {
			t.Fatal(r.Err)
		}
		return r
	}
	first := resolve()
	next, err := srv.Publish(nobleImg, "20250301")
	if err != nil {
		t.Fatal(err)
	}
	clock.advance(30 * time.Minute)
	if r := resolve(); r.Checksum != first.Checksum || srv.Requests(nobleSums) != 1 {
		t.Errorf("within the interval: %s after %d requests, want the cached %s after 1", r.Checksum, srv.Requests(nobleSums), first.Checksum)
	}

	clock.advance(time.Hour)
	if r := resolve(); r.Checksum != "sha256:"+next || srv.Requests(nobleSums) != 2 || f.Stats().NotModified != 0 {
		t.Errorf("after the interval: %s after %d requests (%+v), want the new release sha256:%s after 2", r.Checksum, srv.Requests(nobleSums), f.Stats(), next)
	}
	clock.advance(2 * time.Hour)
	if r := resolve(); r.Checksum != "sha256:"+next || srv.Requests(nobleSums) != 3 || f.Stats().NotModified != 1 {
		t.Errorf("unchanged after the interval: %s after %d requests (%+v), want a 304", r.Checksum, srv.Requests(nobleSums), f.Stats())
	}

	again := &image.Fetcher{Client: f.Client, CacheDir: f.CacheDir, MinInterval: time.Hour, Now: clock.Now}
	if r := resolveImages(context.Background(), again, d, ms)["ubuntu-24.04-cloud"]; r.Checksum != "sha256:"+next || srv.Requests(nobleSums) != 3 {
		t.Errorf("a new fetcher over the cache: %s after %d requests, want no request", r.Checksum, srv.Requests(nobleSums))
	}
}

// TestResolveImagesConcurrently: 50 images with 50 checksum files are
// resolved at once: the server answers none until all 50 requests are in.
func TestResolveImagesConcurrently(t *testing.T) {
	const n = 50
	var mu sync.Mutex
	arrived, all := 0, make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if arrived++; arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
			fmt.Fprintf(w, "%s  %s.img\n", strings.Repeat("ab", 32), strings.Trim(filepath.Dir(r.URL.Path), "/"))
		case <-time.After(10 * time.Second): // only when the requests come one by one
			http.Error(w, "the other requests never came", http.StatusServiceUnavailable)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(ts.Close)
	d := &state.Desired{}
	for i := range n {
		d.Images = append(d.Images, state.Image{Name: fmt.Sprintf("img-%d", i), Kind: state.ImageCloud,
			URL: ts.URL + "/files/{file}", ChecksumURL: fmt.Sprintf("%s/img-%d/SHA256SUMS", ts.URL, i), File: fmt.Sprintf("img-%d.img", i)})
	}
	got := resolveImages(context.Background(), testFetcher(t, nil), d, nil)
	for i := range n {
		name := fmt.Sprintf("img-%d", i)
		if r := got[name]; r.Err != "" || r.File != name+".img" || r.URL != ts.URL+"/files/"+name+".img" {
			t.Errorf("%s: %+v", name, r)
		}
	}
}

// TestFillFile: the file name is escaped for the path, or for the query.
func TestFillFile(t *testing.T) {
	for _, tc := range []struct{ url, file, want string }{
		{"https://example.org/a/{file}", "x 1+2.iso", "https://example.org/a/x%201+2.iso"},
		{"https://example.org/get?name={file}&v=1", "x 1+2.iso", "https://example.org/get?name=x+1%2B2.iso&v=1"},
		{"https://example.org/a/b.iso", "b.iso", "https://example.org/a/b.iso"},
	} {
		if got := fillFile(tc.url, tc.file); got != tc.want {
			t.Errorf("fillFile(%q, %q) = %q, want %q", tc.url, tc.file, got, tc.want)
		}
	}
}

// TestObserveResolvesImages: a session reads TEMPLATED_IMAGE_MIRRORS,
// observe hands the resolved images to the planner and returns them, the
// checksum files are cached under the state directory, and a malformed
// TEMPLATED_IMAGE_MIRRORS fails the session, naming the variable.
func TestObserveResolvesImages(t *testing.T) {
	srv, _ := startImageMirror(t)
	h := newHarness(t)
	env := map[string]string{EnvImageMirrors: srv.Mirrors()}
	h.set.Getenv = func(k string) string { return env[k] }
	h.set.ImageMirrors = nil // read from the variable
	h.d.Images = []state.Image{nobleImage()}
	sess, err := OpenReader(h.set)
	if err != nil {
		t.Fatal(err)
	}
	observeOnce := func(sess *Session) state.Observed {
		t.Helper()
		inputs, err := Inputs(h.d, packerRoot(h.d, sess.set), workspace.Toolchain{Packer: "1.11.2", Plugin: "1.1.1"})
		if err != nil {
			t.Fatal(err)
		}
		_, obs, err := observe(context.Background(), sess.cluster, sess.images, h.d, inputs, "1.1.1", sess.set)
		if err != nil {
			t.Fatal(err)
		}
		return obs
	}
	obs := observeOnce(sess)
	if r := obs.Images["ubuntu-24.04-cloud"]; r.Err != "" || r.Checksum != "sha256:"+srv.Digest(nobleImg) || r.FetchURL != srv.MirrorURL(nobleImg) {
		t.Errorf("observed %+v, want the mirror's noble image", obs.Images)
	}
	if ents, err := os.ReadDir(filepath.Join(h.set.StateDir, "image-cache")); err != nil || len(ents) != 1 {
		t.Errorf("image cache: %v, %v; want one file", ents, err)
	}
	if sess.set.ImageInterval != image.DefaultMinInterval {
		t.Errorf("ImageInterval %s, want the default %s", sess.set.ImageInterval, image.DefaultMinInterval)
	}

	// A second session (apply after plan) reads the cache, not the vendor.
	sess2, err := OpenReader(h.set)
	if err != nil {
		t.Fatal(err)
	}
	if obs := observeOnce(sess2); obs.Images["ubuntu-24.04-cloud"].Err != "" || srv.Requests(nobleSums) != 1 {
		t.Errorf("second session: %+v after %d requests, want 1", obs.Images, srv.Requests(nobleSums))
	}

	// The daemon's session keeps its fetcher across reloads.
	w := h.open(t)
	before := w.images
	if err := w.Reload(context.Background(), h.set); err != nil || w.images != before || w.images == nil {
		t.Errorf("reload: %v; fetcher kept: %v", err, w.images == before)
	}

	env[EnvImageMirrors] = "ftp://cloud-images.ubuntu.com/=http://127.0.0.1:1/"
	if _, err := OpenReader(h.set); err == nil || !strings.Contains(err.Error(), EnvImageMirrors) {
		t.Errorf("malformed mirrors: %v, want an error naming %s", err, EnvImageMirrors)
	}
	if err := w.Reload(context.Background(), h.set); err == nil || !strings.Contains(err.Error(), EnvImageMirrors) {
		t.Errorf("reload with malformed mirrors: %v, want an error naming %s", err, EnvImageMirrors)
	}
}
