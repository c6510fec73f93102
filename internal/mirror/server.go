package mirror

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Options configure a mirror. The zero value is a usable default.
type Options struct {
	// Listen is the address to listen on (default "127.0.0.1:0"); only
	// loopback addresses are accepted.
	Listen string
	// Catalog is what the mirror serves (default DefaultCatalog()).
	Catalog *Catalog
	// Log receives a debug entry per request and an info entry per
	// Publish (default: discarded).
	Log logrus.FieldLogger
	// Now is the clock of Last-Modified (default time.Now).
	Now func() time.Time
}

// Server is a running mirror. Its methods are safe for concurrent use.
type Server struct {
	log  logrus.FieldLogger
	now  func() time.Time
	ln   net.Listener
	http *http.Server
	url  string
	done chan struct{}

	mu      sync.Mutex
	byPath  map[string]*entry // by local path, "/<host><path>"
	byURL   map[string]*entry // by upstream URL
	sums    map[string]*entry // checksum files by directory URL
	origins map[string]bool   // "scheme://host/"
	faults  map[string]Fault  // by upstream URL
	gets    map[string]int    // by upstream URL
}

// entry is one file or checksum file the mirror serves. Its data is never
// written after it is made: a change replaces the slice.
type entry struct {
	upstream string
	file     File   // for a file
	format   string // for a checksum file: FormatGNU or FormatBSD
	sums     bool   // a checksum file
	data     []byte
	digest   string // sha256 of data, hex
	etag     string
	mod      time.Time
}

// Start listens on a loopback address and serves the catalog.
func Start(o Options) (*Server, error) {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if err := checkLoopback(o.Listen); err != nil {
		return nil, err
	}
	if o.Catalog == nil {
		o.Catalog = DefaultCatalog()
	} else if err := o.Catalog.Validate(); err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = l
	}
	s := &Server{log: o.Log, now: o.Now, done: make(chan struct{}),
		byPath: map[string]*entry{}, byURL: map[string]*entry{}, sums: map[string]*entry{},
		origins: map[string]bool{}, faults: map[string]Fault{}, gets: map[string]int{}}
	s.load(o.Catalog)
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("mirror: listen: %w", err)
	}
	s.ln, s.url = ln, "http://"+ln.Addr().String()
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second,
		ErrorLog: log.New(logWriter{s.log}, "", 0)}
	go func() {
		defer close(s.done)
		_ = s.http.Serve(ln)
	}()
	s.log.WithFields(logrus.Fields{"url": s.url, "files": len(o.Catalog.Files)}).Info("image mirror listening")
	return s, nil
}

// logWriter passes the HTTP server's own complaints (a bad request line)
// to the log at debug level.
type logWriter struct{ log logrus.FieldLogger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Debug("mirror http: " + strings.TrimSpace(string(p)))
	return len(p), nil
}

// checkLoopback accepts localhost and loopback IP literals.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("mirror: listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("mirror: refusing to listen on %q: the mirror only listens on loopback addresses (127.0.0.1, ::1, localhost)", addr)
	}
	return nil
}

// load makes the entries of a valid catalog.
func (s *Server) load(c *Catalog) {
	mod := s.now().UTC().Truncate(time.Second)
	for _, f := range c.Files {
		s.add(f, mod)
	}
	for _, cs := range c.ChecksumFiles {
		e := &entry{upstream: cs.URL, format: cs.Format, sums: true}
		s.index(e)
		s.sums[dir(cs.URL)] = e
		s.refreshSums(dir(cs.URL), mod)
	}
}

// add makes a file's entry (s.mu held, or before serving).
func (s *Server) add(f File, mod time.Time) *entry {
	e := &entry{upstream: f.URL, file: f}
	e.set(content(f), mod)
	s.index(e)
	return e
}

func (s *Server) index(e *entry) {
	u, _ := url.Parse(e.upstream) // checked by Validate
	s.byPath[localPath(u)] = e
	s.byURL[e.upstream] = e
	s.origins[origin(u)] = true
}

// set gives e new bytes, digest and validators, modified at mod.
func (e *entry) set(data []byte, mod time.Time) {
	sum := sha256.Sum256(data)
	e.data, e.digest = data, hex.EncodeToString(sum[:])
	e.etag = `"` + e.digest[:24] + `"`
	e.mod = mod
}

// next is the modification time of a change to e: now, but always a
// second past the last one, so that Last-Modified changes too.
func (s *Server) next(e *entry) time.Time {
	return later(s.now().UTC().Truncate(time.Second), e.mod.Add(time.Second))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// refreshSums rewrites the checksum file of directory d, if it has one,
// from the files it holds, by name (s.mu held, or before serving).
func (s *Server) refreshSums(d string, mod time.Time) {
	cs, ok := s.sums[d]
	if !ok {
		return
	}
	var list []sumEntry
	for u, e := range s.byURL {
		if !e.sums && dir(u) == d {
			list = append(list, sumEntry{name: u[len(d):], hex: e.digest, size: int64(len(e.data))})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	data := renderSums(cs.format, list)
	if cs.data != nil && string(data) == string(cs.data) {
		return
	}
	if cs.data != nil {
		mod = later(mod, cs.mod.Add(time.Second))
	}
	cs.set(data, mod)
}

// URL is the mirror's base URL, "http://127.0.0.1:PORT".
func (s *Server) URL() string { return s.url }

// Mirrors is the TEMPLATED_IMAGE_MIRRORS value that maps every vendor
// origin of the catalog ("https://cloud-images.ubuntu.com/") to the
// mirror (URL()+"/cloud-images.ubuntu.com/"), sorted.
func (s *Server) Mirrors() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	pairs := make([]string, 0, len(s.origins))
	for o := range s.origins {
		host := strings.TrimSuffix(o[strings.Index(o, "://")+3:], "/")
		pairs = append(pairs, o+"="+s.url+"/"+host+"/")
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}

// MirrorURL is where the mirror serves an upstream URL ("" for a URL of
// no origin in the catalog).
func (s *Server) MirrorURL(upstreamURL string) string {
	u, err := url.Parse(upstreamURL)
	if err != nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.origins[origin(u)] {
		return ""
	}
	return s.url + localPath(u)
}

// Close stops the server and closes its connections.
func (s *Server) Close() error {
	err := s.http.Close()
	<-s.done
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("mirror: close: %w", err)
	}
	return nil
}
