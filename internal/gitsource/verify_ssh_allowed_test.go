package gitsource

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVerifyAllowedSignersParse: well-formed lines parse to the principals
// and options OpenSSH would read; malformed ones are errors naming
// file:line, cert-authority included.
func TestVerifyAllowedSignersParse(t *testing.T) {
	key := newTestSSHKey(t).authorized
	good := strings.Join([]string{
		"# comment",
		"",
		"   a@x,b@y " + key + " comment words",
		`"quoted principal" VALID-AFTER="20200101UTC",valid-before="202101020304Z" ` + key,
		`c@z namespaces="git,file" ` + key,
	}, "\r\n")
	got, err := parseAllowedSigners("as", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d entries, want 3", len(got))
	}
	if got[0].line != 3 || got[0].principal() != "a@x" || got[0].namespaces != "" {
		t.Errorf("entry 0: %+v", got[0])
	}
	if got[1].principals != "quoted principal" ||
		!got[1].validAfter.Equal(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		!got[1].validBefore.Equal(time.Date(2021, 1, 2, 3, 4, 0, 0, time.UTC)) {
		t.Errorf("entry 1: %+v", got[1])
	}
	if got[2].namespaces != "git,file" {
		t.Errorf("entry 2 namespaces %q", got[2].namespaces)
	}

	bad := []struct{ line, want string }{
		{"ca@x cert-authority " + key, "cert-authority is not supported"},
		{"a@x foo " + key, `unknown option "foo"`},
		{"a@x namespaces=git " + key, "double quotes"},
		{`a@x namespaces="git ` + key, "unterminated quote"},
		{`a@x namespaces="git",namespaces="file" ` + key, "given twice"},
		{`a@x namespaces="git", ` + key, "empty option"},
		{`a@x valid-after="2020010112Z" ` + key, "want YYYYMMDD"},
		{`a@x valid-after="20200101",valid-before="20190101" ` + key, "not after valid-after"},
		{"a@x ssh-ed25519 !!!", "bad base64"},
		{"a@x ssh-rsa " + strings.Fields(key)[1], "does not match the key"},
		{"a@x", "want: principals"},
		{"a@x ssh-ed25519", "missing key"},
	}
	for _, tc := range bad {
		path := filepath.Join(t.TempDir(), "allowed_signers")
		_, err := parseAllowedSigners(path, []byte("# ok\nok@x "+key+"\n"+tc.line+"\n"))
		if err == nil || !strings.Contains(err.Error(), path+":3: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %s:3: ... %s", tc.line, err, path, tc.want)
		}
	}
	if _, err := parseAllowedSigners("empty", []byte("# nobody\n")); err == nil || !strings.Contains(err.Error(), "no allowed signers") {
		t.Errorf("empty file: %v", err)
	}
}

// TestVerifyKeyFileBounds: a missing or oversize key file fails the
// constructor with an error naming the file.
func TestVerifyKeyFileBounds(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxKeyFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{big, filepath.Join(dir, "missing")} {
		if _, err := NewSSHVerifier(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("NewSSHVerifier(%s): %v", path, err)
		}
		if _, err := NewOpenPGPVerifier(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("NewOpenPGPVerifier(%s): %v", path, err)
		}
	}
}

func TestVerifyMatchPatternList(t *testing.T) {
	cases := []struct {
		list string
		want bool
	}{
		{"git", true}, {"file", false}, {"file,git", true}, {"g*", true}, {"g?t", true},
		{"g?", false}, {"*", true}, {"!git,*", false}, {"*,!git", false}, {"!file", false}, {"", false},
	}
	for _, tc := range cases {
		if got := matchPatternList("git", tc.list); got != tc.want {
			t.Errorf("matchPatternList(git, %q) = %v", tc.list, got)
		}
	}
}
