package session

import (
	"cmp"
	"context"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"

	"templated/internal/image"
	"templated/internal/mirror"
	"templated/internal/state"
)

// fileVar is what an image's url writes for its file name.
const fileVar = "{file}"

// resolveImages says what each of d's images is now: the checksum pinned
// in the desired file (no request), or the one the vendor's checksum file
// gives for its file name or pattern (through f, so within f's interval
// without a request). The checksum files and the images are reached
// through mirrors. An image that cannot be resolved has Err set; it never
// stops the others. The images are resolved at once, so that a run costs
// the slowest checksum file, not their sum. It returns nil when d has no
// images.
func resolveImages(ctx context.Context, f *image.Fetcher, d *state.Desired, mirrors []mirror.Mapping) map[string]state.ResolvedImage {
	if len(d.Images) == 0 {
		return nil
	}
	rs := make([]state.ResolvedImage, len(d.Images))
	var wg sync.WaitGroup
	for i, im := range d.Images {
		wg.Go(func() { rs[i] = resolveImage(ctx, f, im, mirrors) })
	}
	wg.Wait()
	out := make(map[string]state.ResolvedImage, len(rs))
	for _, r := range rs {
		if r.Err != "" && f.Log != nil {
			f.Log.WithFields(logrus.Fields{"image": r.Name, "error": r.Err}).Warn("image not resolved")
		}
		out[r.Name] = r
	}
	return out
}

// resolveImage resolves one image (see resolveImages).
func resolveImage(ctx context.Context, f *image.Fetcher, im state.Image, mirrors []mirror.Mapping) state.ResolvedImage {
	r := state.ResolvedImage{Name: im.Name, Kind: im.Kind, Storage: im.Storage, Nodes: slices.Clone(im.Nodes)}
	if im.ChecksumURL == "" {
		r.File, r.Checksum = cmp.Or(im.File, urlFile(im.URL)), im.Checksum
	} else {
		got, err := f.Resolve(ctx, mirror.Rewrite(mirrors, im.ChecksumURL), im.File)
		if err != nil {
			r.Err = err.Error()
			return r
		}
		r.File, r.Checksum, r.Size, r.SumsURL = got.File, got.Checksum.String(), got.Size, safeURLOf(im.ChecksumURL)
	}
	r.URL = fillFile(im.URL, r.File)
	r.FetchURL = mirror.Rewrite(mirrors, r.URL)
	r.Format = im.Format
	return r
}

// fillFile puts file in place of {file} in rawURL, escaped for where it
// stands (the path, or the query).
func fillFile(rawURL, file string) string {
	i := strings.Index(rawURL, fileVar)
	if i < 0 {
		return rawURL
	}
	esc := url.PathEscape(file)
	if q := strings.IndexByte(rawURL, '?'); q >= 0 && q < i {
		esc = url.QueryEscape(file)
	}
	return rawURL[:i] + esc + rawURL[i+len(fileVar):]
}

// urlFile is the last element of rawURL's path, unescaped ("" when rawURL
// does not parse).
func urlFile(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return path.Base(u.Path)
}

// safeURLOf is rawURL as logs, errors and the ledger may show it (see
// image.SafeURL); an unparsable URL is not shown at all.
func safeURLOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return image.SafeURL(u)
}
