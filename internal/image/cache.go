package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/atomicfile"
)

// cached is one URL's body with its validators. It is not changed once
// published; a 304 makes a copy.
type cached struct {
	body         []byte
	etag         string
	lastModified string
	fetchedAt    time.Time
	notModified  bool // this copy came from a 304
	memo         *listingMemo
}

// listingMemo parses a body once for every Resolve that reads it (a 304's
// copy shares it: the body is the same).
type listingMemo struct {
	once    sync.Once
	listing Listing
	err     error
}

func (c *cached) listing() (Listing, error) {
	c.memo.once.Do(func() { c.memo.listing, c.memo.err = ParseListing(c.body) })
	return c.memo.listing, c.memo.err
}

// cacheHeader is the first line of a cache file; the body follows it.
type cacheHeader struct {
	Version      int       `json:"v"`
	URL          string    `json:"url"` // SafeURL, for a person reading the directory
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	FetchedAt    time.Time `json:"fetched_at"`
	Size         int       `json:"size"`
	SHA256       string    `json:"sha256"`
}

const cacheVersion = 1

// cachePath names u's cache file by a hash of u without its userinfo (two
// sets of credentials for one file share it), so no credential or query
// token is written out in the clear.
func (f *Fetcher) cachePath(u *url.URL) string {
	v := *u
	v.User, v.Fragment, v.RawFragment = nil, "", ""
	sum := sha256.Sum256([]byte(v.String()))
	return filepath.Join(f.CacheDir, hex.EncodeToString(sum[:20])+".sums")
}

// cachedLocked returns rawURL's entry, loading it from disk the first time
// (f.mu held). An unreadable or corrupt cache file is ignored: the URL is
// fetched again and the file rewritten.
func (f *Fetcher) cachedLocked(rawURL string, u *url.URL) *cached {
	if c, ok := f.mem[rawURL]; ok || f.CacheDir == "" {
		return c
	}
	c, err := f.load(u)
	if err != nil {
		f.Log.WithFields(logrus.Fields{"url": SafeURL(u), "error": err}).Warn("ignoring checksum cache file")
	}
	f.mem[rawURL] = c // nil too: the disk is read once per URL
	return c
}

func (f *Fetcher) load(u *url.URL) (*cached, error) {
	path := f.cachePath(u)
	data, _, err := atomicfile.ReadRegular(path, MaxBody+64<<10)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	head, body, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return nil, fmt.Errorf("%s: no header line", path)
	}
	var h cacheHeader
	if err := json.Unmarshal(head, &h); err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	sum := sha256.Sum256(body)
	switch {
	case h.Version != cacheVersion:
		return nil, fmt.Errorf("%s: version %d, want %d", path, h.Version, cacheVersion)
	case h.URL != SafeURL(u):
		return nil, fmt.Errorf("%s: holds %s", path, h.URL)
	case h.Size != len(body) || h.SHA256 != hex.EncodeToString(sum[:]):
		return nil, fmt.Errorf("%s: body does not match its header (truncated or altered)", path)
	}
	return &cached{body: body, etag: h.ETag, lastModified: h.LastModified, fetchedAt: h.FetchedAt, memo: new(listingMemo)}, nil
}

// persist writes c to u's cache file; a failure is logged, not returned:
// the body is good, only the next restart will fetch it again.
func (f *Fetcher) persist(u *url.URL, c *cached) {
	if f.CacheDir == "" {
		return
	}
	sum := sha256.Sum256(c.body)
	head, err := json.Marshal(cacheHeader{
		Version: cacheVersion, URL: SafeURL(u), ETag: c.etag, LastModified: c.lastModified,
		FetchedAt: c.fetchedAt.UTC(), Size: len(c.body), SHA256: hex.EncodeToString(sum[:]),
	})
	if err == nil {
		err = os.MkdirAll(f.CacheDir, 0o700)
	}
	if err == nil {
		data := make([]byte, 0, len(head)+1+len(c.body))
		data = append(append(append(data, head...), '\n'), c.body...)
		err = atomicfile.WriteFile(f.cachePath(u), data, 0o600)
	}
	if err != nil {
		f.Log.WithFields(logrus.Fields{"url": SafeURL(u), "error": err}).Warn("cannot write checksum cache file")
	}
}
