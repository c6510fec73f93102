package image

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// sumsServer serves one checksum file with validators and counts what it
// was asked.
type sumsServer struct {
	mu           sync.Mutex
	body         []byte
	etag         string
	lastModified string
	status       int // answer this instead, when set
	requests     int
	ifNoneMatch  []string // per request, "" when absent
	ifModSince   []string
	gate         chan struct{} // when set, each request waits for it
	entered      chan struct{} // when set, told of each request
}

func (s *sumsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.ifNoneMatch = append(s.ifNoneMatch, r.Header.Get("If-None-Match"))
	s.ifModSince = append(s.ifModSince, r.Header.Get("If-Modified-Since"))
	gate, entered := s.gate, s.entered
	s.mu.Unlock()
	if entered != nil {
		entered <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != 0 {
		w.WriteHeader(s.status)
		return
	}
	if s.etag != "" {
		w.Header().Set("ETag", s.etag)
	}
	if s.lastModified != "" {
		w.Header().Set("Last-Modified", s.lastModified)
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && inm == s.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" && s.etag == "" && ims == s.lastModified {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(s.body)
}

func (s *sumsServer) set(fn func(s *sumsServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s)
}

func (s *sumsServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func (s *sumsServer) lastIfNoneMatch() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ifNoneMatch[len(s.ifNoneMatch)-1]
}

func serve(t testing.TB, s *sumsServer) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func serveMux(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
