package ledger

import (
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"filippo.io/torchwood"
)

// witnessesName lists the witnesses, next to the verifier key hint.
const witnessesName = "witnesses.json"

// WitnessConfig is one witness: a local name, its C2SP tlog-cosignature
// verifier key (whose key name appears in its cosignatures) and the URL
// prefix of its C2SP tlog-witness API (add-checkpoint is appended).
type WitnessConfig struct {
	Name        string `json:"name"`
	VerifierKey string `json:"vkey"`
	URL         string `json:"url"`
}

// check validates the name, the key and the URL. A URL may not carry
// credentials: witnesses only ever get checkpoints.
func (w WitnessConfig) check() error {
	if !validName(w.Name) {
		return fmt.Errorf("witness name %q: use letters, digits, '.', '_' and '-'", w.Name)
	}
	if _, err := parseWitnessKey(w.VerifierKey); err != nil {
		return fmt.Errorf("witness %s: %w", w.Name, err)
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("witness %s: URL must be http(s)://host[/prefix]", w.Name)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("witness %s: URL must not carry credentials, a query or a fragment", w.Name)
	}
	return nil
}

// ReadWitnesses returns the witnesses configured for the ledger under dir
// (none when the file does not exist).
func ReadWitnesses(dir string) ([]WitnessConfig, error) {
	b, err := os.ReadFile(filepath.Join(dir, ledgerDirName, witnessesName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read witnesses: %w", err)
	}
	var ws []WitnessConfig
	if err := json.Unmarshal(b, &ws); err != nil {
		return nil, fmt.Errorf("parse %s: %w", witnessesName, err)
	}
	for _, w := range ws {
		if err := w.check(); err != nil {
			return nil, fmt.Errorf("%s: %w", witnessesName, err)
		}
	}
	return ws, nil
}

// AddWitness adds w to the ledger's witnesses (replacing one of the same
// name). A running writer picks it up at its next Open.
func AddWitness(dir string, w WitnessConfig) error {
	if err := w.check(); err != nil {
		return err
	}
	ws, err := ReadWitnesses(dir)
	if err != nil {
		return err
	}
	ws = slices.DeleteFunc(ws, func(o WitnessConfig) bool { return o.Name == w.Name })
	return writeWitnesses(dir, append(ws, w))
}

// RemoveWitness removes the witness called name.
func RemoveWitness(dir, name string) error {
	ws, err := ReadWitnesses(dir)
	if err != nil {
		return err
	}
	kept := slices.DeleteFunc(slices.Clone(ws), func(o WitnessConfig) bool { return o.Name == name })
	if len(kept) == len(ws) {
		return fmt.Errorf("no witness named %q", name)
	}
	return writeWitnesses(dir, kept)
}

func writeWitnesses(dir string, ws []WitnessConfig) error {
	if err := os.MkdirAll(filepath.Join(dir, ledgerDirName), 0o755); err != nil {
		return fmt.Errorf("create ledger directory: %w", err)
	}
	b, err := json.MarshalIndent(ws, "", "  ")
	if err != nil {
		return fmt.Errorf("encode witnesses: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, ledgerDirName, witnessesName), append(b, '\n'), false, "witnesses")
}

// verifyOnly is a crypto.Signer that only has a public key: torchwood builds
// its cosignature verifier from a signer.
type verifyOnly ed25519.PublicKey

func (k verifyOnly) Public() crypto.PublicKey { return ed25519.PublicKey(k) }
func (verifyOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("verification only")
}

// parseWitnessKey parses a C2SP tlog-cosignature/v1 verifier key
// (name+hash+base64(0x04 || Ed25519 public key)).
func parseWitnessKey(vkey string) (*torchwood.CosignatureVerifier, error) {
	name, rest, _ := strings.Cut(vkey, "+")
	_, b64, _ := strings.Cut(rest, "+")
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != 4 {
		return nil, fmt.Errorf("verifier key %q is not a cosignature/v1 (Ed25519) witness key", vkey)
	}
	s, err := torchwood.NewCosignatureSigner(name, verifyOnly(key[1:]))
	if err != nil {
		return nil, fmt.Errorf("verifier key %q: %w", vkey, err)
	}
	if v := s.Verifier(); v.String() == vkey {
		return v, nil
	}
	return nil, fmt.Errorf("verifier key %q: malformed or wrong key hash", vkey)
}
