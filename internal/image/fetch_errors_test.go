package image

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGetRefusesOversizeBodies(t *testing.T) {
	big := bytes.Repeat([]byte("x"), MaxBody+1)
	mux := http.NewServeMux()
	mux.HandleFunc("/length", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(big) })
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < len(big); i += 64 << 10 {
			_, _ = w.Write(big[i:min(i+64<<10, len(big))])
			w.(http.Flusher).Flush() // no Content-Length
		}
	})
	srv := serveMux(t, mux)
	f := &Fetcher{Client: srv.Client(), CacheDir: t.TempDir()}
	for _, p := range []string{"/length", "/chunked"} {
		_, _, err := f.Get(t.Context(), srv.URL+p)
		if err == nil || !strings.Contains(err.Error(), "over the 4194304-byte limit") || !strings.Contains(err.Error(), srv.URL+p) {
			t.Errorf("%s: %v", p, err)
		}
	}
	if st := f.Stats(); st.Errors != 2 {
		t.Errorf("stats %+v", st)
	}
	// Nothing was cached: asking again sends a request again.
	if _, _, err := f.Get(t.Context(), srv.URL+"/length"); err == nil || f.Stats().Requests != 3 {
		t.Errorf("second try: %v, stats %+v", err, f.Stats())
	}
}

func TestErrorsNameTheURLWithoutCredentials(t *testing.T) {
	s := &sumsServer{status: http.StatusNotFound}
	srv := serve(t, s)
	const secret = "hunter2-not-for-logs"
	host := strings.TrimPrefix(srv.URL, "http://")
	withCreds := "http://mirror-user:" + secret + "@" + host + "/rocky/CHECKSUM?token=" + secret
	f := &Fetcher{Client: srv.Client(), CacheDir: t.TempDir()}
	for _, c := range []struct {
		status int
		want   string
	}{{http.StatusNotFound, "HTTP 404 Not Found"}, {http.StatusInternalServerError, "HTTP 500 Internal Server Error"}} {
		s.set(func(s *sumsServer) { s.status = c.status })
		_, _, err := f.Get(t.Context(), withCreds)
		if err == nil {
			t.Fatal("no error")
		}
		msg := err.Error()
		if !strings.Contains(msg, "http://"+host+"/rocky/CHECKSUM?[query redacted]") || !strings.Contains(msg, c.want) {
			t.Errorf("error %q should name the URL and %q", msg, c.want)
		}
		if strings.Contains(msg, secret) || strings.Contains(msg, "mirror-user") {
			t.Errorf("error %q leaks the userinfo or query", msg)
		}
	}
	// A transport error (nothing listening) and the cache file of a
	// success keep the secret out too.
	s.set(func(s *sumsServer) { s.status, s.body = 0, []byte(fixtureHex(SHA256, "z")+"  z.iso\n") })
	if _, err := f.Resolve(t.Context(), withCreds, "z.iso"); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(f.CacheDir, "*"))
	for _, file := range files {
		if b, _ := os.ReadFile(file); bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte("mirror-user")) {
			t.Errorf("cache file %s holds the credentials", file)
		}
	}
	srv.Close()
	_, _, err := (&Fetcher{Client: srv.Client()}).Get(t.Context(), withCreds)
	if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "mirror-user") || !strings.Contains(err.Error(), host) {
		t.Errorf("transport error %v", err)
	}
}

func TestGetTimesOut(t *testing.T) {
	s := &sumsServer{gate: make(chan struct{})} // never opened: the request hangs
	srv := serve(t, s)
	f := &Fetcher{Client: srv.Client(), Timeout: 20 * time.Millisecond}
	_, _, err := f.Get(t.Context(), srv.URL+"/SHA256SUMS")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), srv.URL+"/SHA256SUMS") {
		t.Errorf("err = %v, want a deadline error naming the URL", err)
	}
}

func TestGetRefusesNonHTTPURLs(t *testing.T) {
	f := &Fetcher{}
	for _, u := range []string{"file:///etc/passwd", "ftp://mirror/SHA256SUMS", "/SHA256SUMS", "http://"} {
		if _, _, err := f.Get(t.Context(), u); err == nil || !strings.Contains(err.Error(), "want http:// or https://") {
			t.Errorf("%q: %v", u, err)
		}
	}
	if f.Stats().Requests != 0 {
		t.Error("a request was sent")
	}
}
