package gitsource

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// pgpVerifier checks OpenPGP commit signatures (gpg.format=openpgp, the
// default) against a keyring of armored public keys.
type pgpVerifier struct {
	file *keyFile[openpgp.EntityList]
}

// NewOpenPGPVerifier returns a Verifier for OpenPGP-signed commits whose
// signing keys are in keyringFile: one or more ASCII-armored public key
// blocks (gpg --armor --export), with any text between blocks ignored. A
// private key block in the file is an error. The file is re-read whenever
// it changes.
//
// Verify returns "<identity> (<primary key fingerprint, hex>)", the
// identity being the key's primary user ID ("Name <email>").
func NewOpenPGPVerifier(keyringFile string) (Verifier, error) {
	f, err := newKeyFile(keyringFile, parseKeyring)
	if err != nil {
		return nil, fmt.Errorf("openpgp keyring: %w", err)
	}
	return &pgpVerifier{file: f}, nil
}

// Verify implements Verifier.
func (v *pgpVerifier) Verify(signature string, payload []byte) (string, error) {
	if err := checkFormat(signature, sigFormatPGP); err != nil {
		return "", err
	}
	if strings.Count(signature, pgpSigBegin) > 1 {
		return "", errors.New("more than one openpgp signature")
	}
	block, err := armor.Decode(strings.NewReader(signature))
	if err != nil {
		return "", fmt.Errorf("malformed openpgp signature: %w", err)
	}
	if block.Type != openpgp.SignatureType {
		return "", fmt.Errorf("malformed openpgp signature: armor type %q", block.Type)
	}
	body, err := io.ReadAll(io.LimitReader(block.Body, maxKeyFileSize))
	if err != nil {
		return "", fmt.Errorf("malformed openpgp signature: %w", err)
	}
	sig, err := pgpSignaturePacket(body)
	if err != nil {
		return "", fmt.Errorf("malformed openpgp signature: %w", err)
	}
	keyring, err := v.file.get()
	if err != nil {
		return "", err
	}
	// The key's expiry and revocations are judged at the signature's own
	// creation time (see the package's verification notes).
	at := sig.CreationTime
	cfg := &packet.Config{Time: func() time.Time { return at }}
	signer, err := openpgp.CheckDetachedSignature(keyring, bytes.NewReader(payload), bytes.NewReader(body), cfg)
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return "", fmt.Errorf("openpgp key %s is not in %s (or is not a signing key there)", pgpIssuer(sig), v.file.path)
	case err != nil:
		return "", fmt.Errorf("bad openpgp signature by %s: %w", pgpIssuer(sig), err)
	}
	name := "(no user id)"
	if id := signer.PrimaryIdentity(); id != nil {
		name = id.Name
	}
	return fmt.Sprintf("%s (%X)", name, signer.PrimaryKey.Fingerprint), nil
}

// pgpSignaturePacket reads the one signature packet of a detached
// signature; more packets than one are refused.
func pgpSignaturePacket(body []byte) (*packet.Signature, error) {
	r := bytes.NewReader(body)
	p, err := packet.Read(r)
	if err != nil {
		return nil, err
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return nil, fmt.Errorf("%T, not a signature packet", p)
	}
	if r.Len() > 0 {
		return nil, errors.New("more than one packet")
	}
	return sig, nil
}

// pgpIssuer names the key a signature claims to be from: its issuer
// fingerprint, else its key ID.
func pgpIssuer(sig *packet.Signature) string {
	switch {
	case len(sig.IssuerFingerprint) > 0:
		return fmt.Sprintf("%X", sig.IssuerFingerprint)
	case sig.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *sig.IssuerKeyId)
	}
	return "an unnamed issuer"
}

// parseKeyring reads every armored public key block of a keyring file.
// Blocks are split here because armor.Decode reads ahead and so cannot
// decode two blocks from one reader.
func parseKeyring(path string, data []byte) (openpgp.EntityList, error) {
	const begin, end = "-----BEGIN PGP ", "-----END PGP "
	lines := strings.Split(string(data), "\n")
	var ring openpgp.EntityList
	for i := 0; i < len(lines); i++ {
		head := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(head, begin) {
			continue
		}
		typ := strings.TrimSuffix(strings.TrimPrefix(head, begin), "-----")
		switch typ {
		case "PUBLIC KEY BLOCK":
		case "PRIVATE KEY BLOCK":
			return nil, fmt.Errorf("%s:%d: a private key; give public keys only (gpg --armor --export)", path, i+1)
		default:
			return nil, fmt.Errorf("%s:%d: a PGP %s, not a public key", path, i+1, typ)
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) != end+typ+"-----" {
			j++
		}
		if j == len(lines) {
			return nil, fmt.Errorf("%s:%d: public key block has no END line", path, i+1)
		}
		el, err := openpgp.ReadArmoredKeyRing(strings.NewReader(strings.Join(lines[i:j+1], "\n")))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		ring = append(ring, el...)
		i = j
	}
	if len(ring) == 0 {
		return nil, fmt.Errorf("%s: no armored openpgp public keys", path)
	}
	return ring, nil
}

var _ Verifier = (*pgpVerifier)(nil)
