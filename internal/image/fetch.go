package image

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Defaults for a Fetcher's zero fields.
const (
	DefaultMinInterval = time.Hour
	DefaultTimeout     = 30 * time.Second
)

// MaxBody bounds a checksum file: Ubuntu's biggest SHA256SUMS is a few
// kilobytes, so anything near this is not a checksum file.
const MaxBody = 4 << 20

// Fetcher reads checksum files over HTTP(S), politely: it keeps each URL's
// body with its validators (in memory and, with CacheDir, on disk), sends no
// request at all for a URL fetched less than MinInterval ago, revalidates
// after that with If-None-Match/If-Modified-Since (a 304 keeps the cached
// body), lets concurrent callers of one URL share one request, and refuses
// bodies over MaxBody. Errors name the URL without its userinfo. The zero
// value is ready (memory cache only); set fields before first use. A
// Fetcher is safe for concurrent use.
type Fetcher struct {
	// Client sends the requests (default DefaultClient()).
	Client *http.Client
	// CacheDir keeps one file per URL across restarts ("" keeps memory
	// only). It is created (0700) when missing.
	CacheDir string
	// MinInterval is how long a fetched body is used without asking the
	// server again (0 means DefaultMinInterval; negative revalidates on
	// every call).
	MinInterval time.Duration
	// Timeout bounds one request, headers and body (0 means
	// DefaultTimeout).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log receives debug lines per request and warnings for a cache
	// file that cannot be read or written (default: discarded).
	Log logrus.FieldLogger

	once    sync.Once
	mu      sync.Mutex
	mem     map[string]*cached // by request URL
	flights map[string]*flight // by request URL
	stats   struct{ requests, notModified, hits, shared, errors atomic.Int64 }
	joined  func(url string) // test hook: a caller joined a running flight
}

// FetchInfo says how Get came by a body.
type FetchInfo struct {
	// FetchedAt is when the server last sent or confirmed the body.
	FetchedAt time.Time
	// FromCache says the body is the cached one (fresh, or confirmed by
	// a 304).
	FromCache bool
	// NotModified says the server answered 304 Not Modified.
	NotModified bool
	// Requests is how many HTTP requests this call sent (0 or 1).
	Requests int
	// Shared says the call waited for a concurrent caller's request.
	Shared bool
}

// Stats are a Fetcher's counters since it was made.
type Stats struct {
	Requests    int64 // HTTP requests sent
	NotModified int64 // of which answered 304
	CacheHits   int64 // calls answered within MinInterval without a request
	Shared      int64 // calls that waited for a concurrent caller's request
	Errors      int64 // requests that failed
}

// Stats returns the counters.
func (f *Fetcher) Stats() Stats {
	return Stats{
		Requests:    f.stats.requests.Load(),
		NotModified: f.stats.notModified.Load(),
		CacheHits:   f.stats.hits.Load(),
		Shared:      f.stats.shared.Load(),
		Errors:      f.stats.errors.Load(),
	}
}

// flight is one request that concurrent callers of a URL wait for.
type flight struct {
	done chan struct{}
	c    *cached
	info FetchInfo
	err  error
}

func (f *Fetcher) init() {
	f.once.Do(func() {
		if f.Client == nil {
			f.Client = DefaultClient()
		}
		if f.MinInterval == 0 {
			f.MinInterval = DefaultMinInterval
		}
		if f.Timeout <= 0 {
			f.Timeout = DefaultTimeout
		}
		if f.Now == nil {
			f.Now = time.Now
		}
		if f.Log == nil {
			l := logrus.New()
			l.Out = io.Discard
			f.Log = l
		}
		f.mem = make(map[string]*cached)
		f.flights = make(map[string]*flight)
	})
}

// Get returns the body at rawURL (http or https), from the cache when it
// is fresh, else from the server. The body is the caller's to keep.
func (f *Fetcher) Get(ctx context.Context, rawURL string) ([]byte, FetchInfo, error) {
	c, info, err := f.get(ctx, rawURL)
	if err != nil {
		return nil, info, err
	}
	return bytes.Clone(c.body), info, nil
}

// get is Get returning the shared cache entry.
func (f *Fetcher) get(ctx context.Context, rawURL string) (*cached, FetchInfo, error) {
	f.init()
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, FetchInfo{}, fmt.Errorf("checksum file URL: %w", stripURLError(err))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, FetchInfo{}, fmt.Errorf("checksum file URL %s: want http:// or https:// with a host", SafeURL(u))
	}
	f.mu.Lock()
	prev := f.cachedLocked(rawURL, u)
	if prev != nil && f.fresh(prev) {
		f.mu.Unlock()
		f.stats.hits.Add(1)
		return prev, FetchInfo{FetchedAt: prev.fetchedAt, FromCache: true}, nil
	}
	fl, running := f.flights[rawURL]
	if !running {
		fl = &flight{done: make(chan struct{})}
		f.flights[rawURL] = fl
	}
	f.mu.Unlock()
	if running {
		f.stats.shared.Add(1)
		if f.joined != nil {
			f.joined(rawURL)
		}
	} else {
		// The request runs apart from this caller's cancellation: the
		// callers that joined it still want its answer.
		go f.run(context.WithoutCancel(ctx), fl, rawURL, u, prev)
	}
	select {
	case <-fl.done:
	case <-ctx.Done():
		return nil, FetchInfo{}, fmt.Errorf("fetch %s: %w", SafeURL(u), ctx.Err())
	}
	info := fl.info
	if running {
		info.Requests, info.Shared = 0, true
	}
	return fl.c, info, fl.err
}

// fresh reports whether c was fetched less than MinInterval ago (a time
// in the future, after the clock was set back, is not fresh).
func (f *Fetcher) fresh(c *cached) bool {
	age := f.Now().Sub(c.fetchedAt)
	return f.MinInterval > 0 && age >= 0 && age < f.MinInterval
}

// run sends the flight's request and publishes its result.
func (f *Fetcher) run(ctx context.Context, fl *flight, rawURL string, u *url.URL, prev *cached) {
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	c, info, err := f.fetch(ctx, rawURL, u, prev)
	fl.c, fl.info, fl.err = c, info, err
	f.mu.Lock()
	if err == nil {
		f.mem[rawURL] = c
	}
	delete(f.flights, rawURL)
	f.mu.Unlock()
	close(fl.done)
}
