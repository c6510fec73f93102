package state

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode"
)

// maxFileName is the longest image file name accepted, in bytes (what
// file systems hold).
const maxFileName = 255

// patternChars make an image's file a pattern (path.Match syntax).
const patternChars = `*?[\`

// checkImageURL checks an image's url (mayHoldFile) or checksum_url: http
// or https with a host, without credentials or whitespace, and "{file}"
// at most once, in url only. Messages never quote the URL: it could hold
// a credential.
func checkImageURL(s string, mayHoldFile bool) error {
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(s, "http://")
	}
	if !ok {
		return errors.New("must be an http:// or https:// URL")
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	switch n := strings.Count(s, fileVar); {
	case strings.Contains(authority, "@"):
		return errors.New("must not hold credentials (user:password@): credentials never go in the desired file")
	case strings.IndexFunc(s, badNameRune) >= 0:
		return errors.New("must not contain whitespace or control characters")
	case authority == "":
		return errors.New("has no host")
	case n > 0 && !mayHoldFile:
		return fmt.Errorf("may not contain %s: only url stands for the file name that way", fileVar)
	case strings.Contains(authority, fileVar):
		return fmt.Errorf("has %s in its host; it stands for the file name in the path or query", fileVar)
	case n > 1:
		return fmt.Errorf("contains %s more than once", fileVar)
	}
	u, err := url.Parse(strings.ReplaceAll(s, fileVar, "file"))
	if err == nil && u.Port() != "" {
		if port, perr := strconv.Atoi(u.Port()); perr != nil || port < 1 || port > 65535 {
			err = errors.New("bad port")
		}
	}
	if err != nil || u.Hostname() == "" {
		return errors.New("is not a valid URL (check its host, port and %-escapes)")
	}
	return nil
}

// badNameRune is a rune no URL or file name of an image holds.
func badNameRune(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// lastPathElement is the last element of a checked URL's path ("" when
// the path ends in "/" or is empty).
func lastPathElement(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Path[strings.LastIndex(u.Path, "/")+1:]
}

// fileFromURL checks the file name an image with a pinned checksum and no
// file takes from its url's last path element, as checkImageFile would
// check it written out (iso: the image is an iso).
func fileFromURL(file string, iso bool) error {
	if file == "" || file == "." || file == ".." {
		return errors.New("its path does not end in a file name; set file")
	}
	if err := checkImageFile(file, iso, true); err != nil {
		return fmt.Errorf("its last path element is the file name, and %v; set file", err)
	}
	return nil
}

// checkImageFile checks an image's file: a plain file name, or a pattern
// when the checksum comes from a checksum file (pinned: a pinned checksum
// and no checksum_url). An iso's file must be one Proxmox keeps as iso
// content.
func checkImageFile(s string, iso, pinned bool) error {
	pattern := strings.ContainsAny(s, patternChars)
	switch {
	case s == "":
		return errors.New("must name a file")
	case strings.Contains(s, "/"):
		return fmt.Errorf("%s must be a file name, without '/'", quote(s))
	case s == "." || s == "..":
		return fmt.Errorf("%s is not a file name", quote(s))
	case strings.IndexFunc(s, badNameRune) >= 0:
		return fmt.Errorf("%s must not contain whitespace or control characters", quote(s))
	case len(s) > maxFileName:
		return fmt.Errorf("is longer than %d bytes", maxFileName)
	case pattern && pinned:
		return fmt.Errorf("%s is a pattern (*, ?, [ or \\), which picks a file from checksum_url; with a pinned checksum name the one file", quote(s))
	case pattern:
		if _, err := path.Match(s, ""); err != nil {
			return fmt.Errorf("%s is not a valid pattern: %v", quote(s), err)
		}
	case iso && !isoFileName(s):
		return fmt.Errorf("%s does not end in .iso or .img, which Proxmox requires of iso content", quote(s))
	}
	return nil
}

// isoFileName reports whether Proxmox keeps a file of this name as iso
// content.
func isoFileName(s string) bool {
	ext := strings.ToLower(path.Ext(s))
	return ext == ".iso" || ext == ".img"
}

// checksumLens are the hex digits of each accepted checksum algorithm.
var checksumLens = map[string]int{"sha256": 64, "sha512": 128}

// parseChecksum checks a pinned checksum, "sha256:<64 hex>" or
// "sha512:<128 hex>", and returns it in lower case.
func parseChecksum(s string) (string, error) {
	algo, digest, ok := strings.Cut(s, ":")
	if !ok {
		if isHex(s) && (len(s) == 64 || len(s) == 128) {
			return "", errors.New("name the algorithm: write sha256:<64 hex digits> or sha512:<128 hex digits>")
		}
		return "", errors.New("must be sha256:<64 hex digits> or sha512:<128 hex digits>")
	}
	want, ok := checksumLens[algo]
	if !ok {
		if lower := strings.ToLower(algo); checksumLens[lower] > 0 {
			return "", fmt.Errorf("write the algorithm in lower case: %s:", lower)
		}
		return "", fmt.Errorf("only sha256 and sha512 checksums are accepted (Proxmox verifies the download with them; md5 and sha1 are not trusted), got %s", quote(algo))
	}
	switch {
	case digest != "" && !isHex(digest):
		return "", fmt.Errorf("a %s checksum is %d hex digits after %s:, and this one has other characters", algo, want, algo)
	case len(digest) != want:
		return "", fmt.Errorf("a %s checksum is %d hex digits after %s:, got %d", algo, want, algo, len(digest))
	}
	return strings.ToLower(s), nil
}

// isHex reports whether s is a non-empty string of hex digits.
func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
