package ledger

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// entrySigContext separates entry signatures from checkpoint notes and DSSE
// envelopes, which the same key signs.
const entrySigContext = "templated-ledger-entry/v1\n"

// sigSuffix is how every canonical body ends before the signature goes in.
var sigSuffix = []byte(`"sig":""}`)

// encodeLine returns the canonical, signed line for e (without '\n').
func encodeLine(e Entry, key ed25519.PrivateKey) ([]byte, error) {
	e.Sig = ""
	body, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode entry: %w", err)
	}
	sig := ed25519.Sign(key, append([]byte(entrySigContext), body...))
	return withSig(body, base64.StdEncoding.EncodeToString(sig)), nil
}

// withSig puts sig into a body that ends in `"sig":""}`.
func withSig(body []byte, sig string) []byte {
	out := make([]byte, 0, len(body)+len(sig))
	out = append(out, body[:len(body)-2]...)
	out = append(out, sig...)
	return append(out, '"', '}')
}

// debrisError marks a line that is not JSON at all: what a crash leaves.
type debrisError struct{ error }

func (e debrisError) Unwrap() error { return e.error }

// decoded is one line read back: the entry and the body its signature covers.
type decoded struct {
	Entry
	body []byte
}

// decodeLine parses one line strictly: valid UTF-8 JSON, no duplicate keys,
// no unknown keys, and byte-for-byte canonical. It does not check the
// signature (see checkSig) so that sealed lines verify fast.
func decodeLine(line []byte) (decoded, error) {
	var d decoded
	if !utf8.Valid(line) {
		return d, debrisError{errors.New("not valid UTF-8")}
	}
	if err := json.Unmarshal(line, &d.Entry); err != nil {
		if _, ok := err.(*json.SyntaxError); ok || !json.Valid(line) {
			return d, debrisError{fmt.Errorf("invalid JSON: %w", err)}
		}
		return d, fmt.Errorf("invalid entry: %w", err)
	}
	if k, ok := duplicateKey(line); ok {
		return d, fmt.Errorf("duplicate key %q", k)
	}
	sig := d.Sig
	d.Sig = ""
	body, err := json.Marshal(d.Entry)
	if err != nil {
		return d, fmt.Errorf("re-encode: %w", err)
	}
	d.Sig = sig
	if !bytes.Equal(withSig(body, sig), line) {
		return d, notCanonical(line)
	}
	d.body = body
	return d, nil
}

// notCanonical explains why a line that parsed is not what the writer writes.
func notCanonical(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var e Entry
	if err := dec.Decode(&e); err != nil {
		if s := err.Error(); strings.Contains(s, "unknown field") {
			return fmt.Errorf("unknown key %s", strings.TrimPrefix(s, "json: unknown field "))
		}
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return errors.New("not in canonical form (key order, key case, spacing or escaping differs from what the writer produces)")
}

// checkSig verifies the line's own signature with any of keys.
func (d *decoded) checkSig(keys []ed25519.PublicKey) error {
	sig, err := base64.StdEncoding.DecodeString(d.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("malformed sig")
	}
	msg := append([]byte(entrySigContext), d.body...)
	for _, k := range keys {
		if ed25519.Verify(k, msg, sig) {
			return nil
		}
	}
	return errors.New("signature does not verify with a trusted key")
}

// duplicateKey finds the first object key that repeats within its object,
// at any depth. line must already be valid JSON.
func duplicateKey(line []byte) (string, bool) {
	type frame struct {
		obj  bool
		keys [][]byte
	}
	var stackBuf [8]frame
	stack := stackBuf[:0]
	expectKey := false
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '{':
			stack = append(stack, frame{obj: true})
			expectKey = true
		case '[':
			stack = append(stack, frame{})
			expectKey = false
		case '}', ']':
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].obj
		case '"':
			j, esc := i+1, false
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' {
					esc = true
					j++
				}
			}
			if expectKey {
				key := line[i+1 : j]
				if esc {
					var s string
					_ = json.Unmarshal(line[i:j+1], &s)
					key = []byte(s)
				}
				top := &stack[len(stack)-1]
				for _, k := range top.keys {
					if bytes.Equal(k, key) {
						return string(key), true
					}
				}
				top.keys = append(top.keys, key)
				expectKey = false
			}
			i = j
		}
	}
	return "", false
}

// strictUnmarshal decodes one JSON value, rejecting unknown fields and
// trailing data.
func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
