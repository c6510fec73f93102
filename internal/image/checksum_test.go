package image

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// fixtureHex is the digest the testdata files give NAME: the files were
// written with sha256/sha512 of "fixture:"+NAME, so a test can check each
// entry against its own name.
func fixtureHex(alg Algorithm, name string) string {
	if alg == SHA512 {
		s := sha512.Sum512([]byte("fixture:" + name))
		return hex.EncodeToString(s[:])
	}
	s := sha256.Sum256([]byte("fixture:" + name))
	return hex.EncodeToString(s[:])
}

func TestParseChecksumRoundTrips(t *testing.T) {
	for _, alg := range []Algorithm{SHA256, SHA512} {
		want := fixtureHex(alg, "x.iso")
		for _, in := range []string{string(alg) + ":" + want, strings.ToUpper(string(alg)) + ":" + strings.ToUpper(want)} {
			c, err := ParseChecksum(in)
			if err != nil {
				t.Fatalf("ParseChecksum(%q): %v", in, err)
			}
			if c.Algorithm != alg || c.Hex != want || c.String() != string(alg)+":"+want {
				t.Errorf("ParseChecksum(%q) = %+v (String %q)", in, c, c.String())
			}
		}
	}
	if (Checksum{}).String() != "" || !(Checksum{}).IsZero() {
		t.Error("the zero Checksum should print as empty and be zero")
	}
}

func TestParseChecksumRefuses(t *testing.T) {
	h64 := fixtureHex(SHA256, "x")
	cases := []struct {
		in, want string
		refused  bool
	}{
		{h64, "want sha256:<hex>", false},
		{"sha256:" + h64[:63], "63 hex digits, want 64", false},
		{"sha512:" + h64, "64 hex digits, want 128", false},
		{"sha256:" + h64[:63] + "g", "non-hex character at 64", false},
		{"blake3:" + h64, `unknown algorithm "blake3"`, false},
		{"md5:" + h64[:32], "md5", true},
		{"sha1:" + h64[:40], "sha1", true},
		{"SHA1:" + h64[:40], "sha1", true},
	}
	for _, c := range cases {
		_, err := ParseChecksum(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseChecksum(%q) = %v, want an error containing %q", c.in, err, c.want)
		}
		if err != nil && errors.Is(err, ErrRefusedAlgorithm) != c.refused {
			t.Errorf("ParseChecksum(%q): errors.Is(ErrRefusedAlgorithm) = %v, want %v", c.in, !c.refused, c.refused)
		}
	}
}
