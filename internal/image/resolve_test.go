package image

import (
	"errors"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	s := &sumsServer{body: readFixture(t, "rocky-9.4-x86_64-CHECKSUM"), etag: `"r"`}
	srv := serve(t, s)
	f := &Fetcher{Client: srv.Client(), CacheDir: t.TempDir()}
	url := "http://reader:pw-123456@" + strings.TrimPrefix(srv.URL, "http://") + "/9/isos/x86_64/CHECKSUM"
	r, err := f.Resolve(t.Context(), url, "Rocky-9.*-x86_64-minimal.iso")
	if err != nil {
		t.Fatal(err)
	}
	want := Resolved{
		File: "Rocky-9.4-x86_64-minimal.iso", Checksum: Checksum{SHA256, fixtureHex(SHA256, "Rocky-9.4-x86_64-minimal.iso")},
		Size: 1805256704, SumsURL: srv.URL + "/9/isos/x86_64/CHECKSUM", FetchedAt: r.FetchedAt,
	}
	if r != want || r.FetchedAt.IsZero() {
		t.Errorf("Resolve = %+v\nwant       %+v", r, want)
	}
	r2, err := f.Resolve(t.Context(), url, "Rocky-9-latest-x86_64-dvd.iso")
	if err != nil || !r2.FromCache || r2.Checksum.Hex != fixtureHex(SHA256, "Rocky-9-latest-x86_64-dvd.iso") || s.count() != 1 {
		t.Errorf("second Resolve: %+v %v, %d requests", r2, err, s.count())
	}

	_, err = f.Resolve(t.Context(), url, "Rocky-9.4-x86_64-minimal.img")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), srv.URL+"/9/isos/x86_64/CHECKSUM") ||
		!strings.Contains(err.Error(), `nearby: Rocky-9.4-x86_64-minimal.iso`) || strings.Contains(err.Error(), "pw-123456") {
		t.Errorf("missing name: %v", err)
	}
}

func TestResolveSaysWhenUnreadableLinesWereSkipped(t *testing.T) {
	s := &sumsServer{body: []byte(fixtureHex(SHA256, "a") + "  a.iso\n" + fixtureHex(SHA256, "b")[:40] + "  b.iso\n")}
	srv := serve(t, s)
	f := &Fetcher{Client: srv.Client()}
	_, err := f.Resolve(t.Context(), srv.URL, "b.iso")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "1 unreadable lines were skipped: line 2: sha1: algorithm not accepted") {
		t.Errorf("err = %v", err)
	}
	s.set(func(s *sumsServer) { s.body = []byte("<html>oops</html>\n") })
	_, err = (&Fetcher{Client: srv.Client()}).Resolve(t.Context(), srv.URL, "a.iso")
	if err == nil || !strings.Contains(err.Error(), "no readable checksum lines: line 1") {
		t.Errorf("html body: %v", err)
	}
}
