package image

import (
	"errors"
	"fmt"
	"strings"
)

// Algorithm names a hash function templated accepts for an image.
type Algorithm string

// The accepted algorithms. MD5 and SHA-1 are refused on purpose: a checksum
// here is the identity of an image in the desired state and in the ledger,
// and both have practical collisions (MD5 chosen-prefix collisions since
// 2009, SHA-1's SHAttered in 2017 and chosen-prefix in 2020), so a matching
// MD5 or SHA-1 value does not prove the bytes are the vendor's. Every vendor
// templated targets (Ubuntu, Debian, Rocky, Fedora, AlmaLinux, CentOS
// Stream) publishes SHA-256 or SHA-512.
const (
	SHA256 Algorithm = "sha256"
	SHA512 Algorithm = "sha512"
)

// HexLen is the length of the algorithm's digest in hex digits (0 for an
// algorithm that is not accepted).
func (a Algorithm) HexLen() int {
	switch a {
	case SHA256:
		return 64
	case SHA512:
		return 128
	}
	return 0
}

// refused are the algorithms recognised only to say why they are refused.
var refused = map[Algorithm]bool{"md5": true, "sha1": true, "sha224": true, "sha384": true}

// refusedByLen names the refused algorithms a bare digest's length points
// at, so the message says why rather than "malformed".
var refusedByLen = map[int]string{32: "md5", 40: "sha1", 56: "sha224", 96: "sha384"}

// algorithmByLen infers the algorithm of a bare digest (GNU layout).
func algorithmByLen(n int) (Algorithm, error) {
	switch n {
	case 64:
		return SHA256, nil
	case 128:
		return SHA512, nil
	}
	if name, ok := refusedByLen[n]; ok {
		return "", refusedError(name)
	}
	return "", fmt.Errorf("a digest of %d hex digits matches no known algorithm", n)
}

// ErrRefusedAlgorithm marks a checksum in an algorithm templated does not
// accept (md5, sha1, sha224, sha384).
var ErrRefusedAlgorithm = errors.New("algorithm not accepted")

func refusedError(name string) error {
	return fmt.Errorf("%s: %w (want sha256 or sha512)", name, ErrRefusedAlgorithm)
}

// Checksum is an algorithm and its digest in lowercase hex. The zero value
// is "no checksum".
type Checksum struct {
	Algorithm Algorithm
	Hex       string
}

// IsZero reports whether c is the zero Checksum.
func (c Checksum) IsZero() bool { return c.Algorithm == "" && c.Hex == "" }

// String returns "algorithm:hex", the form ParseChecksum reads.
func (c Checksum) String() string {
	if c.IsZero() {
		return ""
	}
	return string(c.Algorithm) + ":" + c.Hex
}

// ParseChecksum reads "sha256:<64 hex>" or "sha512:<128 hex>". The
// algorithm is matched without regard to case and the digest may be in
// either case (it is kept in lowercase); anything else, a refused algorithm
// (md5, sha1: see SHA256) or a digest of the wrong length, is an error.
func ParseChecksum(s string) (Checksum, error) {
	alg, digest, ok := strings.Cut(s, ":")
	if !ok {
		return Checksum{}, fmt.Errorf("checksum %q: want sha256:<hex> or sha512:<hex>", s)
	}
	a := Algorithm(strings.ToLower(alg))
	if a.HexLen() == 0 {
		if refused[a] {
			return Checksum{}, fmt.Errorf("checksum %q: %w", s, refusedError(string(a)))
		}
		return Checksum{}, fmt.Errorf("checksum %q: unknown algorithm %q (want sha256 or sha512)", s, alg)
	}
	c, err := newChecksum(a, digest)
	if err != nil {
		return Checksum{}, fmt.Errorf("checksum %q: %w", s, err)
	}
	return c, nil
}

// newChecksum checks digest's length and digits for a and lowercases it
// (without allocating when it already is lowercase).
func newChecksum(a Algorithm, digest string) (Checksum, error) {
	if len(digest) != a.HexLen() {
		return Checksum{}, fmt.Errorf("%s digest has %d hex digits, want %d", a, len(digest), a.HexLen())
	}
	var class byte
	for i := 0; i < len(digest); i++ {
		c := hexClass[digest[i]]
		if c == 0 {
			return Checksum{}, fmt.Errorf("%s digest has a non-hex character at %d", a, i+1)
		}
		class |= c
	}
	if class&hexUpper != 0 {
		digest = strings.ToLower(digest)
	}
	return Checksum{Algorithm: a, Hex: digest}, nil
}

// hexClass classifies a byte as a hex digit without branches on its value:
// hexLower for 0-9 and a-f, hexUpper for A-F, 0 for anything else.
var hexClass = func() (t [256]byte) {
	for c := '0'; c <= '9'; c++ {
		t[c] = hexLower
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = hexLower
	}
	for c := 'A'; c <= 'F'; c++ {
		t[c] = hexUpper
	}
	return t
}()

const (
	hexLower = 1
	hexUpper = 2
)
