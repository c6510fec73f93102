package mirror

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"
)

// Fault is how the mirror spoils a file's downloads.
type Fault int

// The faults. They apply to the files, not to the checksum files.
const (
	FaultNone Fault = iota
	// FaultNotFound answers 404 Not Found.
	FaultNotFound
	// FaultCut sends the headers with the full Content-Length, half the
	// body, and closes the connection (the client sees an unexpected EOF).
	FaultCut
	// FaultCorrupt sends bytes of the right length that differ from what
	// the checksum file says.
	FaultCorrupt
)

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultNotFound:
		return "not-found"
	case FaultCut:
		return "cut"
	case FaultCorrupt:
		return "corrupt"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// Publish stands in for the vendor's release named release of the file
// at upstreamURL, and returns the new file's sha256 digest (hex). A file
// published by PublishReplace gets new bytes under its name; one published
// by PublishAdd stays, and a file whose name holds release in place of the
// old one's is added (see Files). Either way the checksum file of the
// directory lists the new digest, and the changed files' ETag and
// Last-Modified change.
func (s *Server) Publish(upstreamURL, release string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byURL[upstreamURL]
	if !ok || e.sums {
		return "", fmt.Errorf("publish %s: not a file of the catalog", upstreamURL)
	}
	if release == "" {
		return "", fmt.Errorf("publish %s: empty release", upstreamURL)
	}
	f := e.file
	switch f.Publish {
	case PublishAdd:
		if strings.Contains(release, "/") {
			return "", fmt.Errorf("publish %s: release %q holds a /", upstreamURL, release)
		}
		nf := f
		nf.URL = dir(f.URL) + strings.Replace(path.Base(f.URL), f.Release, release, 1)
		nf.Release = release
		if _, err := checkURL(nf.URL); err != nil {
			return "", fmt.Errorf("publish %s as release %s: %w", upstreamURL, release, err)
		}
		if err := nf.validate(); err != nil {
			return "", fmt.Errorf("publish %s as release %s: %w", upstreamURL, release, err)
		}
		if _, ok := s.byURL[nf.URL]; ok {
			return "", fmt.Errorf("publish %s as release %s: %s is already published", upstreamURL, release, nf.URL)
		}
		e = s.add(nf, s.next(e))
	default:
		if release == f.Release {
			return "", fmt.Errorf("publish %s: already at release %s", upstreamURL, release)
		}
		e.file.Release = release
		e.set(content(e.file), s.next(e))
	}
	s.refreshSums(dir(e.upstream), e.mod)
	s.log.WithFields(logrus.Fields{"url": e.upstream, "release": release, "sha256": e.digest}).Info("mirror published a release")
	return e.digest, nil
}

// SetFault spoils (or, with FaultNone, mends) the downloads of the file
// at upstreamURL, including one that Publish adds later. Checksum files
// are not spoilt.
func (s *Server) SetFault(upstreamURL string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == FaultNone {
		delete(s.faults, upstreamURL)
		return
	}
	s.faults[upstreamURL] = f
}

// Requests is the number of GETs the mirror answered for upstreamURL (a
// file or a checksum file), 304s and spoilt ones included.
func (s *Server) Requests(upstreamURL string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets[upstreamURL]
}

// Digest is the sha256 (hex) of the bytes the file or checksum file at
// upstreamURL has now ("" if the mirror has no such file).
func (s *Server) Digest(upstreamURL string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byURL[upstreamURL]; ok {
		return e.digest
	}
	return ""
}

// PinnedChecksums maps the upstream URL of every file no checksum file
// lists to its checksum, "sha256:<hex>": what a desired file must pin for
// the mirror's bytes, since the vendors' pinned checksums cannot match
// them.
func (s *Server) PinnedChecksums() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for u, e := range s.byURL {
		if _, listed := s.sums[dir(u)]; !e.sums && !listed {
			out[u] = "sha256:" + e.digest
		}
	}
	return out
}

// Files lists the upstream URLs of the files (not the checksum files) the
// mirror serves, sorted: the catalog's and those Publish added.
func (s *Server) Files() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for u, e := range s.byURL {
		if !e.sums {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}
