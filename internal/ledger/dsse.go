package ledger

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DSSE (Dead Simple Signing Envelope, secure-systems-lab/dsse v1), with
// ed25519 signatures over the pre-authentication encoding.

// PayloadTypeInToto is the payloadType of an in-toto Statement.
const PayloadTypeInToto = "application/vnd.in-toto+json"

// Envelope is a DSSE envelope.
type Envelope struct {
	Payload     string      `json:"payload"` // base64
	PayloadType string      `json:"payloadType"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one signature of an Envelope.
type Signature struct {
	KeyID string `json:"keyid,omitempty"`
	Sig   string `json:"sig"` // base64
}

// PAE is DSSE's pre-authentication encoding:
// "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes.
func PAE(payloadType string, payload []byte) []byte {
	var b []byte
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, ' ')
	return append(b, payload...)
}

// SignEnvelope signs payload with key into an envelope.
func SignEnvelope(payloadType string, payload []byte, key ed25519.PrivateKey, keyID string) Envelope {
	sig := ed25519.Sign(key, PAE(payloadType, payload))
	return Envelope{
		Payload:     base64.StdEncoding.EncodeToString(payload),
		PayloadType: payloadType,
		Signatures:  []Signature{{KeyID: keyID, Sig: base64.StdEncoding.EncodeToString(sig)}},
	}
}

// decodeB64 accepts standard and URL-safe base64, padded or not, as DSSE
// requires.
func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// OpenEnvelope verifies env with any of keys (keyid is only a hint) and only
// then returns the payload, which must be of wantType.
func OpenEnvelope(env Envelope, wantType string, keys []ed25519.PublicKey) ([]byte, error) {
	payload, err := decodeB64(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("DSSE payload is not base64: %w", err)
	}
	if len(env.Signatures) == 0 {
		return nil, errors.New("DSSE envelope has no signature")
	}
	pae := PAE(env.PayloadType, payload)
	ok := false
	for _, s := range env.Signatures {
		sig, err := decodeB64(s.Sig)
		if err != nil || len(sig) != ed25519.SignatureSize {
			continue
		}
		for _, k := range keys {
			if ed25519.Verify(k, pae, sig) {
				ok = true
			}
		}
	}
	if !ok {
		return nil, errors.New("DSSE signature does not verify with a trusted key")
	}
	if env.PayloadType != wantType {
		return nil, fmt.Errorf("DSSE payloadType is %q, want %q", env.PayloadType, wantType)
	}
	return payload, nil
}

// parseEnvelope decodes an envelope strictly.
func parseEnvelope(b []byte) (Envelope, error) {
	var env Envelope
	if !json.Valid(b) {
		return env, errors.New("DSSE envelope is not valid JSON")
	}
	if k, ok := duplicateKey(b); ok {
		return env, fmt.Errorf("DSSE envelope has duplicate key %q", k)
	}
	if err := strictUnmarshal(b, &env); err != nil {
		return env, fmt.Errorf("DSSE envelope: %w", err)
	}
	return env, nil
}
