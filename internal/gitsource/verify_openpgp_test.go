package gitsource

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/hiddeco/sshsig"
)

// TestVerifyOpenPGPGoodSigner: a go-git commit signed by a key in the
// keyring verifies, also when that key is the second armored block, and
// names the identity and the primary key fingerprint.
func TestVerifyOpenPGPGoodSigner(t *testing.T) {
	alice, bob := newTestEntity(t, "Alice", "alice@example.com"), newTestEntity(t, "Bob", "bob@example.com")
	c := pgpCommit(t, alice)
	ring := filepath.Join(t.TempDir(), "keyring.asc")
	writeFile(t, ring, "Bob's key:\n"+armoredPublic(t, bob)+"\nAlice's key:\n"+armoredPublic(t, alice))
	v, err := NewOpenPGPVerifier(ring)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := v.Verify(c.sig, c.payload)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if want := fmt.Sprintf("Alice <alice@example.com> (%X)", alice.PrimaryKey.Fingerprint); signer != want {
		t.Fatalf("signer = %q, want %q", signer, want)
	}
}

// TestVerifyOpenPGPRefusals: wrong key, unsigned, tampered and an SSH
// signature are refused, with ErrUnsigned only for the unsigned commit.
func TestVerifyOpenPGPRefusals(t *testing.T) {
	alice, mallory := newTestEntity(t, "Alice", "alice@example.com"), newTestEntity(t, "Mallory", "m@example.com")
	signed := pgpCommit(t, alice)
	byMallory := pgpCommit(t, mallory)
	unsigned := pgpCommit(t, nil)
	sshSig, err := sshsig.Sign(bytes.NewReader(signed.payload), newTestSSHKey(t).signer, sshsig.HashSHA512, "git")
	if err != nil {
		t.Fatal(err)
	}
	ring := filepath.Join(t.TempDir(), "keyring.asc")
	writeFile(t, ring, armoredPublic(t, alice))
	v, err := NewOpenPGPVerifier(ring)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, sig string
		payload   []byte
		want      string
		unsigned  bool
	}{
		{"wrong key", byMallory.sig, byMallory.payload, fmt.Sprintf("openpgp key %X is not in", mallory.PrimaryKey.Fingerprint), false},
		{"unsigned", unsigned.sig, unsigned.payload, "not signed", true},
		{"tampered", signed.sig, tamper(signed.payload), fmt.Sprintf("bad openpgp signature by %X", alice.PrimaryKey.Fingerprint), false},
		{"ssh signature", string(sshsig.Armor(sshSig)), signed.payload, "signature is ssh, but verification is openpgp", false},
		{"two signatures", signed.sig + "\n" + signed.sig, signed.payload, "more than one", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			signer, err := v.Verify(tc.sig, tc.payload)
			if err == nil {
				t.Fatalf("Verify accepted, signer %q", signer)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if errors.Is(err, ErrUnsigned) != tc.unsigned || errors.Is(err, ErrKeyFile) {
				t.Fatalf("wrong class: %v", err)
			}
		})
	}
}

// TestVerifyOpenPGPExpiryAtSigningTime: a key's expiry is judged at the
// signature's creation time: a signature made while the key was valid
// verifies though the key has expired since; one made after is refused.
func TestVerifyOpenPGPExpiryAtSigningTime(t *testing.T) {
	born := time.Now().Add(-365 * 24 * time.Hour)
	at := func(d time.Duration) func() time.Time { return func() time.Time { return born.Add(d) } }
	alice, err := openpgp.NewEntity("Alice", "", "alice@example.com", &packet.Config{
		Algorithm: packet.PubKeyAlgoEdDSA, Time: at(0), KeyLifetimeSecs: 30 * 24 * 3600,
	})
	if err != nil {
		t.Fatal(err)
	}
	ring := filepath.Join(t.TempDir(), "keyring.asc")
	writeFile(t, ring, armoredPublic(t, alice))
	v, err := NewOpenPGPVerifier(ring)
	if err != nil {
		t.Fatal(err)
	}
	payload := pgpCommit(t, nil).payload
	// The keyring holds the 30-day key; lift the lifetime on the in-memory
	// signer only, so that it can still make a signature on day 60.
	for _, id := range alice.Identities {
		id.SelfSignature.KeyLifetimeSecs = nil
	}
	sign := func(d time.Duration) string {
		var sig bytes.Buffer
		if err := openpgp.ArmoredDetachSign(&sig, alice, bytes.NewReader(payload), &packet.Config{Time: at(d)}); err != nil {
			t.Fatal(err)
		}
		return sig.String()
	}
	if _, err := v.Verify(sign(24*time.Hour), payload); err != nil {
		t.Fatalf("signed on day 1 of a 30-day key: %v", err)
	}
	if _, err := v.Verify(sign(60*24*time.Hour), payload); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("signed on day 60 of a 30-day key: %v", err)
	}
}

// TestVerifyOpenPGPKeyringParse: private keys and empty rings are refused
// with the file (and line) named.
func TestVerifyOpenPGPKeyringParse(t *testing.T) {
	alice := newTestEntity(t, "Alice", "alice@example.com")
	var priv bytes.Buffer
	w, err := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ text, want string }{
		{armoredPublic(t, alice) + priv.String(), ":"},
		{"no keys here\n", "no armored openpgp public keys"},
		{"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n", "has no END line"},
	}
	cases[0].want = fmt.Sprintf(":%d: a private key", strings.Count(armoredPublic(t, alice), "\n")+1)
	for _, tc := range cases {
		ring := filepath.Join(t.TempDir(), "keyring.asc")
		writeFile(t, ring, tc.text)
		_, err := NewOpenPGPVerifier(ring)
		if err == nil || !strings.Contains(err.Error(), ring) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %s...%s", err, ring, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE") {
			t.Errorf("error quotes key material: %v", err)
		}
	}
}
