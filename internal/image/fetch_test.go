package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestGetRevalidatesOnlyAfterMinInterval(t *testing.T) {
	body := readFixture(t, "ubuntu-noble-cloud-SHA256SUMS")
	s := &sumsServer{body: body, etag: `"v1"`}
	srv := serve(t, s)
	clk := newClock()
	f := &Fetcher{Client: srv.Client(), CacheDir: t.TempDir(), Now: clk.Now}
	url := srv.URL + "/noble/current/SHA256SUMS"

	got, info, err := f.Get(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) || info.Requests != 1 || info.FromCache || !info.FetchedAt.Equal(clk.Now()) {
		t.Fatalf("first Get: %d bytes, %+v", len(got), info)
	}
	if s.lastIfNoneMatch() != "" {
		t.Error("the first request should not be conditional")
	}

	clk.Advance(59 * time.Minute) // within the default hour: no request at all
	got, info, err = f.Get(t.Context(), url)
	if err != nil || !bytes.Equal(got, body) || !info.FromCache || info.Requests != 0 || s.count() != 1 {
		t.Fatalf("within MinInterval: %v %+v, server saw %d requests", err, info, s.count())
	}

	clk.Advance(2 * time.Minute) // past it: one conditional request, answered 304
	got, info, err = f.Get(t.Context(), url)
	if err != nil || !bytes.Equal(got, body) || !info.NotModified || !info.FromCache || info.Requests != 1 {
		t.Fatalf("after MinInterval: %v %+v", err, info)
	}
	if s.count() != 2 || s.lastIfNoneMatch() != `"v1"` {
		t.Fatalf("server saw %d requests, last If-None-Match %q", s.count(), s.lastIfNoneMatch())
	}
	if !info.FetchedAt.Equal(clk.Now()) {
		t.Error("a 304 should renew FetchedAt")
	}
	clk.Advance(30 * time.Minute) // the 304 restarted the interval
	if _, info, _ = f.Get(t.Context(), url); info.Requests != 0 {
		t.Errorf("after a 304 the interval should start again: %+v", info)
	}

	newBody := append(append([]byte{}, body...), []byte(fixtureHex(SHA256, "new")+" *new.img\n")...)
	s.set(func(s *sumsServer) { s.body, s.etag = newBody, `"v2"` })
	clk.Advance(time.Hour)
	got, info, err = f.Get(t.Context(), url)
	if err != nil || !bytes.Equal(got, newBody) || info.NotModified || info.FromCache {
		t.Fatalf("changed file: %v %+v", err, info)
	}
	st := f.Stats()
	if st.Requests != 3 || st.NotModified != 1 || st.CacheHits != 2 || st.Errors != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestGetUsesLastModifiedWithoutETag(t *testing.T) {
	const lm = "Tue, 27 Aug 2026 10:00:00 GMT"
	s := &sumsServer{body: readFixture(t, "debian-12-cloud-SHA512SUMS"), lastModified: lm}
	srv := serve(t, s)
	f := &Fetcher{Client: srv.Client(), MinInterval: -1} // revalidate every time
	for i := 0; i < 2; i++ {
		if _, _, err := f.Get(t.Context(), srv.URL+"/SHA512SUMS"); err != nil {
			t.Fatal(err)
		}
	}
	if s.ifModSince[0] != "" || s.ifModSince[1] != lm || s.count() != 2 || f.Stats().NotModified != 1 {
		t.Errorf("If-Modified-Since sent %q, %d requests, stats %+v", s.ifModSince, s.count(), f.Stats())
	}
}

func TestCacheDirSurvivesARestart(t *testing.T) {
	s := &sumsServer{body: readFixture(t, "rocky-9.4-x86_64-CHECKSUM"), etag: `W/"abc"`}
	srv := serve(t, s)
	clk, dir := newClock(), t.TempDir()
	url := srv.URL + "/pub/rocky/9/isos/x86_64/CHECKSUM"
	if _, _, err := (&Fetcher{Client: srv.Client(), CacheDir: dir, Now: clk.Now}).Get(t.Context(), url); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	f2 := &Fetcher{Client: srv.Client(), CacheDir: dir, Now: clk.Now}
	got, info, err := f2.Get(t.Context(), url)
	if err != nil || !bytes.Equal(got, s.body) || info.Requests != 0 || s.count() != 1 {
		t.Fatalf("restart within MinInterval: %v %+v, %d requests", err, info, s.count())
	}
	clk.Advance(time.Hour)
	f3 := &Fetcher{Client: srv.Client(), CacheDir: dir, Now: clk.Now}
	if _, info, err = f3.Get(t.Context(), url); err != nil || !info.NotModified {
		t.Fatalf("restart after MinInterval: %v %+v", err, info)
	}
	if s.lastIfNoneMatch() != `W/"abc"` {
		t.Errorf("If-None-Match %q, want the stored ETag", s.lastIfNoneMatch())
	}
}

func TestCorruptCacheFileIsIgnoredAndRefetched(t *testing.T) {
	s := &sumsServer{body: readFixture(t, "ubuntu-noble-releases-SHA256SUMS"), etag: `"e"`}
	srv := serve(t, s)
	url := srv.URL + "/24.04/SHA256SUMS"
	corruptions := map[string]func([]byte) []byte{
		"garbage":      func([]byte) []byte { return []byte("not a cache file") },
		"truncated":    func(b []byte) []byte { return b[:len(b)-10] },
		"flipped byte": func(b []byte) []byte { c := bytes.Clone(b); c[len(c)-2] ^= 1; return c },
		"bad header":   func(b []byte) []byte { return append([]byte("{\n"), b...) },
		"other url":    func(b []byte) []byte { return bytes.Replace(b, []byte("/24.04/"), []byte("/22.04/"), 1) },
	}
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, _, err := (&Fetcher{Client: srv.Client(), CacheDir: dir}).Get(t.Context(), url); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.sums"))
			if len(files) != 1 {
				t.Fatalf("cache files %v", files)
			}
			b, _ := os.ReadFile(files[0])
			if err := os.WriteFile(files[0], corrupt(b), 0o600); err != nil {
				t.Fatal(err)
			}
			before := s.count()
			got, info, err := (&Fetcher{Client: srv.Client(), CacheDir: dir}).Get(t.Context(), url)
			if err != nil || !bytes.Equal(got, s.body) || info.Requests != 1 || s.count() != before+1 {
				t.Fatalf("%v %+v", err, info)
			}
			if s.lastIfNoneMatch() != "" {
				t.Error("a corrupt cache's validators were sent")
			}
			// Rewritten: a third Fetcher needs no request.
			if _, info, err = (&Fetcher{Client: srv.Client(), CacheDir: dir}).Get(t.Context(), url); err != nil || info.Requests != 0 {
				t.Errorf("after rewrite: %v %+v", err, info)
			}
		})
	}
}

func TestTenConcurrentGetsShareOneRequest(t *testing.T) {
	gate, entered := make(chan struct{}), make(chan struct{}, 10)
	s := &sumsServer{body: readFixture(t, "debian-12-cloud-SHA512SUMS"), gate: gate, entered: entered}
	srv := serve(t, s)
	joined := make(chan struct{}, 10)
	f := &Fetcher{Client: srv.Client(), MinInterval: -1, joined: func(string) { joined <- struct{}{} }}
	url := srv.URL + "/SHA512SUMS"

	var wg sync.WaitGroup
	infos := make([]FetchInfo, 10)
	errs := make([]error, 10)
	bodies := make([][]byte, 10)
	for i := range 10 {
		wg.Go(func() { bodies[i], infos[i], errs[i] = f.Get(t.Context(), url) })
	}
	// The one request is in the server and the nine others wait for it;
	// the deadline only turns a broken sharing into a failure, not a hang.
	deadline := time.After(10 * time.Second)
	for n := 0; n < 10; n++ {
		select {
		case <-entered:
		case <-joined:
		case <-deadline:
			close(gate)
			wg.Wait()
			t.Fatalf("after %d of 10 callers, no more joined; server saw %d requests", n, s.count())
		}
	}
	close(gate)
	wg.Wait()
	leaders := 0
	for i := range 10 {
		if errs[i] != nil || !bytes.Equal(bodies[i], s.body) {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		leaders += infos[i].Requests
	}
	if s.count() != 1 || leaders != 1 || f.Stats().Shared != 9 || f.Stats().Requests != 1 {
		t.Errorf("server saw %d requests, %d callers sent one, stats %+v", s.count(), leaders, f.Stats())
	}
	bodies[0][0] ^= 1 // each caller owns its copy
	if bytes.Equal(bodies[0], bodies[1]) {
		t.Error("callers share one body slice")
	}
}

func TestSharedRequestOutlivesItsStarter(t *testing.T) {
	gate, entered := make(chan struct{}), make(chan struct{}, 2)
	s := &sumsServer{body: []byte(fixtureHex(SHA256, "a") + "  a.iso\n"), gate: gate, entered: entered}
	srv := serve(t, s)
	joined := make(chan struct{}, 1)
	f := &Fetcher{Client: srv.Client(), joined: func(string) { joined <- struct{}{} }}
	url := srv.URL + "/SUMS"
	ctx, cancel := context.WithCancel(t.Context())
	starterErr := make(chan error, 1)
	go func() { _, _, err := f.Get(ctx, url); starterErr <- err }()
	<-entered
	follower := make(chan error, 1)
	go func() { _, err := f.Resolve(t.Context(), url, "a.iso"); follower <- err }()
	<-joined
	cancel()
	if err := <-starterErr; !errors.Is(err, context.Canceled) {
		t.Errorf("starter: %v, want context.Canceled", err)
	}
	close(gate)
	if err := <-follower; err != nil {
		t.Errorf("follower: %v", err)
	}
	if s.count() != 1 {
		t.Errorf("%d requests", s.count())
	}
}

func TestClockSetBackRevalidates(t *testing.T) {
	s := &sumsServer{body: []byte(fixtureHex(SHA256, "a") + "  a.iso\n"), etag: `"1"`}
	srv := serve(t, s)
	clk := newClock()
	f := &Fetcher{Client: srv.Client(), Now: clk.Now}
	if _, _, err := f.Get(t.Context(), srv.URL); err != nil {
		t.Fatal(err)
	}
	clk.Advance(-time.Minute)
	if _, info, err := f.Get(t.Context(), srv.URL); err != nil || !info.NotModified {
		t.Errorf("a fetch time in the future should not count as fresh: %v %+v", err, info)
	}
}
