package gitsource

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// TestVerifySSHGoodSigner: a commit signed by the git CLI with an allowed
// key verifies, names the first principal and the key's fingerprint, and
// git itself accepts the same allowed-signers file.
func TestVerifySSHGoodSigner(t *testing.T) {
	repo := newTestGitRepo(t)
	key, other := newTestSSHKey(t), newTestSSHKey(t)
	c := repo.commit(&key, time.Now())

	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	writeFile(t, allowed, "# team\n"+
		"bob@example.com "+other.authorized+"\n"+
		"\n"+
		`alice@example.com,"al ice@example.com" NameSpaces="file,git",valid-after="20000101Z" `+key.authorized+" alice's laptop\n")
	v, err := NewSSHVerifier(allowed)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := v.Verify(c.sig, c.payload)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if want := "alice@example.com (" + ssh.FingerprintSHA256(key.pub) + ")"; signer != want {
		t.Fatalf("signer = %q, want %q", signer, want)
	}
	repo.git(nil, "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", "HEAD")
}

// TestVerifySSHRefusals: every way a signature is not good enough gives an
// error that says why, ErrUnsigned only for the unsigned commit, and no key
// material beyond the fingerprint.
func TestVerifySSHRefusals(t *testing.T) {
	repo := newTestGitRepo(t)
	key, stranger := newTestSSHKey(t), newTestSSHKey(t)
	now := time.Now()
	signed := repo.commit(&key, now)
	byStranger := repo.commit(&stranger, now)
	unsigned := repo.commit(nil, now)
	pgp := pgpCommit(t, newTestEntity(t, "Alice", "alice@example.com"))

	fileNS, err := sshsig.Sign(bytes.NewReader(signed.payload), key.signer, sshsig.HashSHA512, "file")
	if err != nil {
		t.Fatal(err)
	}
	line := "alice@example.com " + key.authorized + "\n"
	cases := []struct {
		name, allowed, sig string
		payload            []byte
		want               string
		unsigned           bool
	}{
		{name: "key not in file", allowed: line, sig: byStranger.sig, payload: byStranger.payload,
			want: ssh.FingerprintSHA256(stranger.pub) + " is not in"},
		{name: "line excludes namespace git", allowed: `alice@example.com namespaces="file" ` + key.authorized,
			sig: signed.sig, payload: signed.payload, want: `not allowed for namespace "git"`},
		{name: "negated namespace", allowed: `alice@example.com namespaces="!git,*" ` + key.authorized,
			sig: signed.sig, payload: signed.payload, want: `not allowed for namespace "git"`},
		{name: "signature namespace not git", allowed: line, sig: string(sshsig.Armor(fileNS)), payload: signed.payload,
			want: `for namespace "file", not "git"`},
		{name: "valid-before in the past", allowed: `alice@example.com valid-before="20200101Z" ` + key.authorized,
			sig: signed.sig, payload: signed.payload, want: "expired: committer time"},
		{name: "valid-after in the future", allowed: `alice@example.com valid-after="29990101" ` + key.authorized,
			sig: signed.sig, payload: signed.payload, want: "not yet valid"},
		{name: "tampered payload", allowed: line, sig: signed.sig, payload: tamper(signed.payload),
			want: "bad ssh signature by " + ssh.FingerprintSHA256(key.pub)},
		{name: "unsigned", allowed: line, sig: unsigned.sig, payload: unsigned.payload,
			want: "not signed", unsigned: true},
		{name: "openpgp signature", allowed: line, sig: pgp.sig, payload: pgp.payload,
			want: "signature is openpgp, but verification is ssh"},
		{name: "garbage", allowed: line, sig: "hello", payload: signed.payload, want: "no known format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			allowed := filepath.Join(t.TempDir(), "allowed_signers")
			writeFile(t, allowed, tc.allowed)
			v, err := NewSSHVerifier(allowed)
			if err != nil {
				t.Fatal(err)
			}
			signer, err := v.Verify(tc.sig, tc.payload)
			if err == nil {
				t.Fatalf("Verify accepted, signer %q", signer)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if errors.Is(err, ErrUnsigned) != tc.unsigned {
				t.Fatalf("errors.Is(ErrUnsigned) = %v for %v", !tc.unsigned, err)
			}
			if errors.Is(err, ErrKeyFile) {
				t.Fatalf("a refusal is not a key file fault: %v", err)
			}
			for _, k := range []testSSHKey{key, stranger} {
				if b64 := strings.Fields(k.authorized)[1]; strings.Contains(err.Error(), b64) {
					t.Fatalf("error carries key material: %v", err)
				}
			}
		})
	}
}

// TestVerifySSHValidityUsesCommitTime: valid-before is judged at the
// commit's committer time, as git does, not at verification time.
func TestVerifySSHValidityUsesCommitTime(t *testing.T) {
	repo := newTestGitRepo(t)
	key := newTestSSHKey(t)
	old := repo.commit(&key, time.Date(2019, 6, 1, 0, 0, 0, 0, time.UTC))
	recent := repo.commit(&key, time.Now())

	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	writeFile(t, allowed, `alice@example.com valid-before="20200101000000Z" `+key.authorized+"\n")
	v, err := NewSSHVerifier(allowed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(old.sig, old.payload); err != nil {
		t.Fatalf("commit of 2019 under a key valid before 2020: %v", err)
	}
	if _, err := v.Verify(recent.sig, recent.payload); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("recent commit under an expired key: %v", err)
	}
}

// TestVerifySSHReload: the allowed-signers file is re-read when it changes;
// while it is broken or gone, verification fails closed with ErrKeyFile.
func TestVerifySSHReload(t *testing.T) {
	repo := newTestGitRepo(t)
	key, other := newTestSSHKey(t), newTestSSHKey(t)
	c := repo.commit(&key, time.Now())
	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	writeFile(t, allowed, "bob@example.com "+other.authorized+"\n")
	v, err := NewSSHVerifier(allowed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(c.sig, c.payload); err == nil || !strings.Contains(err.Error(), "is not in") {
		t.Fatalf("before rotation: %v", err)
	}

	step := time.Now().Add(time.Hour)
	rewrite := func(text string) {
		writeFile(t, allowed, text)
		step = step.Add(time.Minute) // a distinct mtime whatever the clock's resolution
		if err := os.Chtimes(allowed, step, step); err != nil {
			t.Fatal(err)
		}
	}
	rewrite("bob@example.com " + other.authorized + "\nalice@example.com " + key.authorized + "\n")
	if signer, err := v.Verify(c.sig, c.payload); err != nil || !strings.HasPrefix(signer, "alice@example.com (") {
		t.Fatalf("after rotation: %q, %v", signer, err)
	}
	rewrite("alice@example.com ssh-ed25519 not-base64!\n")
	if _, err := v.Verify(c.sig, c.payload); !errors.Is(err, ErrKeyFile) || !strings.Contains(err.Error(), allowed+":1:") {
		t.Fatalf("broken file: %v", err)
	}
	if err := os.Remove(allowed); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(c.sig, c.payload); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("removed file: %v", err)
	}
}
