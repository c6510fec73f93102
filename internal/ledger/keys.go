package ledger

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"templated/internal/atomicfile"

	"golang.org/x/mod/sumdb/note"
)

// KeyFileName is the private key's file name in its default directories.
const KeyFileName = "ledger.key"

// DefaultKeyPath is where the ledger's private signing key lives when no path
// is given, in this order: $TEMPLATED_LEDGER_KEY; $CREDENTIALS_DIRECTORY/
// ledger.key when that file exists (systemd LoadCredential=); /etc/templated/
// ledger.key for root; else $XDG_CONFIG_HOME/templated/ledger.key (default
// ~/.config). Never inside the evidence tree.
func DefaultKeyPath(getenv func(string) string) string {
	if p := getenv("TEMPLATED_LEDGER_KEY"); p != "" {
		return p
	}
	if d := getenv("CREDENTIALS_DIRECTORY"); d != "" {
		p := filepath.Join(d, KeyFileName)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Geteuid() == 0 {
		return filepath.Join("/etc/templated", KeyFileName)
	}
	cfg := getenv("XDG_CONFIG_HOME")
	if cfg == "" {
		cfg = filepath.Join(getenv("HOME"), ".config")
	}
	return filepath.Join(cfg, "templated", KeyFileName)
}

// signingKey is the ledger key: one ed25519 key used for checkpoints (signed
// notes), entry signatures and DSSE envelopes, each with its own framing.
type signingKey struct {
	signer note.Signer
	priv   ed25519.PrivateKey
	vkey   string // note verifier key: name+hash+base64
}

// GenerateKey creates a new private key file at keyPath (mode 0600, refusing
// to overwrite) for a ledger named name, and returns the verifier key.
func GenerateKey(keyPath, name string) (vkey string, err error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", fmt.Errorf("generate key %q: %w", name, err)
	}
	if err := os.MkdirAll(filepath.Dir(keyPath), 0o700); err != nil {
		return "", fmt.Errorf("create key directory: %w", err)
	}
	f, err := os.OpenFile(keyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create key file (an existing key is never overwritten): %w", err)
	}
	// A partly written key must not stay behind: O_EXCL would refuse
	// every retry of `templated ledger init`.
	_, err = f.WriteString(skey + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(keyPath)
		return "", fmt.Errorf("write key file: %w", err)
	}
	return vkey, atomicfile.SyncDir(filepath.Dir(keyPath))
}

// loadKey reads a private key file written by GenerateKey. It refuses files
// that group or others can read.
func loadKey(path string) (*signingKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s has mode %v: want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	return parseKey(strings.TrimSpace(string(b)))
}

func parseKey(skey string) (*signingKey, error) {
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("parse signing key: %w", err)
	}
	// PRIVATE+KEY+<name>+<hash>+<base64(alg || seed)>
	parts := strings.SplitN(skey, "+", 5)
	data, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(data) != 1+ed25519.SeedSize || data[0] != 1 {
		return nil, errors.New("parse signing key: not an ed25519 key")
	}
	priv := ed25519.NewKeyFromSeed(data[1:])
	vkey, err := note.NewEd25519VerifierKey(signer.Name(), priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("derive verifier key: %w", err)
	}
	return &signingKey{signer: signer, priv: priv, vkey: vkey}, nil
}

// trustedKey is one verifier key: as a note verifier and as a raw ed25519 key.
type trustedKey struct {
	verifier note.Verifier
	pub      ed25519.PublicKey
	keyID    string
}

// parseVerifierKey parses a note verifier key "name+hash+base64(alg||pub)".
func parseVerifierKey(vkey string) (trustedKey, error) {
	vkey = strings.TrimSpace(vkey)
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return trustedKey{}, fmt.Errorf("parse verifier key: %w", err)
	}
	parts := strings.SplitN(vkey, "+", 3)
	data, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(data) != 1+ed25519.PublicKeySize || data[0] != 1 {
		return trustedKey{}, errors.New("parse verifier key: not an ed25519 key")
	}
	return trustedKey{verifier: v, pub: ed25519.PublicKey(data[1:]), keyID: keyID(v.Name(), v.KeyHash())}, nil
}

// keyID is the DSSE keyid hint: the note name and key hash.
func keyID(name string, hash uint32) string {
	return name + "+" + fmt.Sprintf("%08x", hash)
}

// ReadVerifierKey reads a verifier key file (one line, note verifier format).
func ReadVerifierKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read verifier key: %w", err)
	}
	vkey := strings.TrimSpace(string(b))
	if _, err := parseVerifierKey(vkey); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return vkey, nil
}

func pubKeys(keys []trustedKey) []ed25519.PublicKey {
	out := make([]ed25519.PublicKey, len(keys))
	for i, k := range keys {
		out[i] = k.pub
	}
	return out
}

// formatSize is the decimal form used in checkpoints.
func formatSize(n int64) string { return strconv.FormatInt(n, 10) }
