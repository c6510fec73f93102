package mirror

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed default_catalog.yaml
var defaultCatalogYAML []byte

// Catalog lists what a mirror serves, by the vendors' URLs.
type Catalog struct {
	// ChecksumFiles are the vendors' checksum files; each lists every
	// file of its directory.
	ChecksumFiles []ChecksumFile `yaml:"checksum_files"`
	Files         []File         `yaml:"files"`
}

// ChecksumFile is a vendor's checksum file.
type ChecksumFile struct {
	URL string `yaml:"url"`
	// Format is FormatGNU or FormatBSD.
	Format string `yaml:"format"`
}

// The checksum file formats.
const (
	// FormatGNU is sha256sum's binary-mode output, "<hex> *<name>", as
	// Ubuntu's SHA256SUMS.
	FormatGNU = "gnu"
	// FormatBSD is "SHA256 (<name>) = <hex>" after a "# <name>: <size>
	// bytes" comment, as Rocky's CHECKSUM.
	FormatBSD = "bsd"
)

// File is one file a vendor publishes.
type File struct {
	URL string `yaml:"url"`
	// Kind is KindQCOW2, KindISO or KindBlob.
	Kind string `yaml:"kind"`
	// Size is the byte count the mirror serves (the vendors' are far
	// bigger).
	Size int64 `yaml:"size"`
	// VirtualSize is a qcow2 image's disk size, written in its header.
	VirtualSize int64 `yaml:"virtual_size,omitempty"`
	// Release names the bytes: they derive from the URL and the release.
	Release string `yaml:"release"`
	// Publish is what a new release does: PublishReplace (the default)
	// or PublishAdd.
	Publish string `yaml:"publish,omitempty"`
}

// The kinds of file.
const (
	KindQCOW2 = "qcow2" // a valid, empty QCOW2 v3 image
	KindISO   = "iso"   // ISO 9660 volume descriptors, then noise
	KindBlob  = "blob"  // noise
)

// The publish modes.
const (
	// PublishReplace gives a new release new bytes under the same name,
	// as Ubuntu refreshes jammy-server-cloudimg-amd64.img.
	PublishReplace = "replace"
	// PublishAdd adds a file whose name holds the new release where this
	// one's holds its own, as Rocky's point releases
	// (Rocky-9-GenericCloud-Base-9.5-20241118.0 → …-9.6-20250601.0).
	PublishAdd = "add"
)

// Size bounds of a file the mirror serves.
const (
	MaxFileSize    = 4 << 20
	minQCOW2Size   = qcow2MetaClusters * clusterSize
	minISOSize     = isoMinSize
	maxVirtualSize = 1 << 42 // what one cluster of L1 table covers
)

// DefaultCatalog returns the embedded default catalog
// (default_catalog.yaml): the images desired/templates.yaml names.
func DefaultCatalog() *Catalog {
	c, err := ParseCatalog(defaultCatalogYAML)
	if err != nil {
		panic(fmt.Sprintf("mirror: embedded default catalog: %v", err))
	}
	return c
}

// ParseCatalog reads a catalog in YAML (unknown keys are errors) and
// checks it.
func ParseCatalog(b []byte) (*Catalog, error) {
	var c Catalog
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("parse catalog: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks the catalog: absolute http(s) URLs with lower-case hosts
// and clean paths, one scheme per host, no URL twice, at most one checksum
// file per directory, known kinds, formats and publish modes, sizes within
// bounds, and for PublishAdd a release that the file name holds once.
func (c *Catalog) Validate() error {
	var errs []error
	schemes := map[string]string{} // host → scheme
	seen := map[string]string{}    // URL → where
	check := func(where, raw string) {
		u, err := checkURL(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.url: %w", where, err))
			return
		}
		if s, ok := schemes[u.Host]; ok && s != u.Scheme {
			errs = append(errs, fmt.Errorf("%s.url: host %s is served over %s elsewhere", where, u.Host, s))
		}
		schemes[u.Host] = u.Scheme
		if w, ok := seen[raw]; ok {
			errs = append(errs, fmt.Errorf("%s.url: %s is already %s", where, raw, w))
		}
		seen[raw] = where
	}
	dirs := map[string]string{}
	for i, s := range c.ChecksumFiles {
		where := fmt.Sprintf("checksum_files[%d]", i)
		check(where, s.URL)
		if s.Format != FormatGNU && s.Format != FormatBSD {
			errs = append(errs, fmt.Errorf("%s.format: %q, want %s or %s", where, s.Format, FormatGNU, FormatBSD))
		}
		if w, ok := dirs[dir(s.URL)]; ok {
			errs = append(errs, fmt.Errorf("%s: %s already has a checksum file (%s)", where, dir(s.URL), w))
		}
		dirs[dir(s.URL)] = where
	}
	for i, f := range c.Files {
		where := fmt.Sprintf("files[%d]", i)
		check(where, f.URL)
		if err := f.validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s.%w", where, err))
		}
	}
	if len(c.Files) == 0 {
		errs = append(errs, errors.New("files: none"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("catalog: %w", errors.Join(errs...))
	}
	return nil
}

// validate checks what a file's URL does not.
func (f File) validate() error {
	min := int64(1)
	switch f.Kind {
	case KindQCOW2:
		min = minQCOW2Size
		if f.VirtualSize <= 0 || f.VirtualSize > maxVirtualSize {
			return fmt.Errorf("virtual_size: %d, want 1 to %d", f.VirtualSize, int64(maxVirtualSize))
		}
	case KindISO:
		min = minISOSize
	case KindBlob:
	default:
		return fmt.Errorf("kind: %q, want %s, %s or %s", f.Kind, KindQCOW2, KindISO, KindBlob)
	}
	if f.Kind != KindQCOW2 && f.VirtualSize != 0 {
		return fmt.Errorf("virtual_size: only a %s image has one", KindQCOW2)
	}
	if f.Size < min || f.Size > MaxFileSize {
		return fmt.Errorf("size: %d, want %d to %d for %s", f.Size, min, MaxFileSize, f.Kind)
	}
	if f.Release == "" {
		return errors.New("release: empty")
	}
	switch f.Publish {
	case "", PublishReplace:
	case PublishAdd:
		if strings.Count(path.Base(f.URL), f.Release) != 1 {
			return fmt.Errorf("release: %q must appear once in the file name for publish %s", f.Release, PublishAdd)
		}
	default:
		return fmt.Errorf("publish: %q, want %s or %s", f.Publish, PublishReplace, PublishAdd)
	}
	return nil
}

// checkURL reads a catalog URL: http(s), a lower-case host, a clean path
// to a file that needs no escaping, and nothing else.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: want http:// or https://", raw)
	case u.Host == "" || u.Host != strings.ToLower(u.Host):
		return nil, fmt.Errorf("%q: want a lower-case host", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("%q: want no user, query or fragment", raw)
	case u.Path == "" || strings.HasSuffix(u.Path, "/") || path.Clean(u.Path) != u.Path || u.EscapedPath() != u.Path:
		return nil, fmt.Errorf("%q: want a clean path to a file, without characters to escape", raw)
	}
	return u, nil
}

// dir is a URL up to and including its last "/".
func dir(rawURL string) string { return rawURL[:strings.LastIndex(rawURL, "/")+1] }

// origin is a URL's "scheme://host/".
func origin(u *url.URL) string { return u.Scheme + "://" + u.Host + "/" }

// localPath is where the mirror serves a URL: "/<host><path>".
func localPath(u *url.URL) string { return "/" + u.Host + u.Path }
