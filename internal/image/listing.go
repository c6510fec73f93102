package image

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Entry is one checksum line of a checksum file.
type Entry struct {
	// Name is the file name as the line gives it, less a leading "./"
	// and the binary-mode "*".
	Name     string
	Checksum Checksum
	// Size is the byte count from a "# NAME: N bytes" comment just
	// before a BSD-layout line (Fedora and Rocky write one), 0 if none.
	Size int64
	// Line is the line's number in the file, counting from 1.
	Line int
}

// LineError is a line ParseListing could not read.
type LineError struct {
	Line int
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e LineError) Unwrap() error { return e.Err }

// Listing is what ParseListing read from a checksum file.
type Listing struct {
	Entries []Entry
	// Skipped are the lines that were neither blank, comments, PGP
	// armour nor readable checksum lines, in a file that had at least one
	// readable line.
	Skipped []LineError
	// Clearsigned says the entries came from the signed text of a PGP
	// clear-signed message (the signature was not checked).
	Clearsigned bool
}

// ParseChecksumFile returns the entries of a checksum file; see
// ParseListing.
func ParseChecksumFile(data []byte) ([]Entry, error) {
	l, err := ParseListing(data)
	return l.Entries, err
}

// PGP clear-signed message armour (RFC 4880 section 7).
const (
	pgpSignedBegin = "-----BEGIN PGP SIGNED MESSAGE-----"
	pgpSigBegin    = "-----BEGIN PGP SIGNATURE-----"
	pgpSigEnd      = "-----END PGP SIGNATURE-----"
)

// ParseListing reads a checksum file in either layout coreutils writes:
// GNU ("<hex>  NAME", "<hex> *NAME", a leading backslash for an escaped
// name) with the algorithm inferred from the digest's length, and BSD or
// --tag ("SHA256 (NAME) = <hex>", as Rocky's and Fedora's CHECKSUM) with
// the algorithm from the tag. Blank lines, "#" comments and CRLF line ends
// are allowed. A PGP clear-signed file yields the entries of its signed
// text only (dash-escaping undone): the armour headers, the signature and
// anything after the signature are ignored, and the signature is not
// verified here.
//
// A line that is none of these is skipped (and listed in Skipped) as long
// as the file has at least one readable line: vendors' files carry the odd
// line of their own, and an image that such a line hid is reported by
// Lookup as missing. A file with no readable line is an error naming the
// first bad lines by number.
func ParseListing(data []byte) (Listing, error) {
	var l Listing
	text := strings.TrimPrefix(string(data), "\ufeff")
	l.Entries = make([]Entry, 0, strings.Count(text, "\n")+1)
	const (
		plain = iota
		armourHeaders
		signedText
		signature
		afterSignature
	)
	state := plain
	sizeName, size := "", int64(0)
	for n := 1; text != ""; n++ {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		line = strings.TrimSuffix(line, "\r")
		switch state {
		case armourHeaders:
			if strings.TrimSpace(line) == "" {
				state = signedText
			}
			continue
		case signature:
			if strings.TrimSpace(line) == pgpSigEnd {
				state = afterSignature
			}
			continue
		case afterSignature:
			continue
		case signedText:
			if strings.TrimSpace(line) == pgpSigBegin {
				state = signature
				continue
			}
			line = strings.TrimPrefix(line, "- ")
		case plain:
			if strings.TrimSpace(line) == pgpSignedBegin && len(l.Entries) == 0 && len(l.Skipped) == 0 {
				state, l.Clearsigned = armourHeaders, true
				continue
			}
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		if trimmed[0] == '#' {
			sizeName, size = sizeComment(trimmed)
			continue
		}
		e, err := parseLine(line)
		if err != nil {
			l.Skipped = append(l.Skipped, LineError{Line: n, Err: err})
			continue
		}
		e.Line = n
		if sizeName != "" && sizeName == e.Name {
			e.Size = size
		}
		sizeName = ""
		l.Entries = append(l.Entries, e)
	}
	if state == armourHeaders || state == signedText {
		return Listing{}, errors.New("clear-signed checksum file has no signature block (truncated?)")
	}
	if len(l.Entries) == 0 {
		if len(l.Skipped) == 0 {
			return Listing{}, errors.New("no checksum lines")
		}
		return Listing{}, fmt.Errorf("no readable checksum lines: %s", lineErrors(l.Skipped, 3))
	}
	return l, nil
}

// lineErrors joins the first max errors and says how many more there are.
func lineErrors(errs []LineError, max int) string {
	var b strings.Builder
	for i, e := range errs {
		if i == max {
			fmt.Fprintf(&b, " (and %d more)", len(errs)-max)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// sizeComment reads "# NAME: N bytes"; it returns "" for other comments.
func sizeComment(c string) (string, int64) {
	rest, ok := strings.CutSuffix(c, " bytes")
	if !ok {
		return "", 0
	}
	i := strings.LastIndex(rest, ": ")
	if i < 0 {
		return "", 0
	}
	n, err := strconv.ParseInt(rest[i+2:], 10, 64)
	if err != nil || n < 0 {
		return "", 0
	}
	return strings.TrimSpace(rest[1:i]), n
}
