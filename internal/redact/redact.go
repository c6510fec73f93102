// Package redact owns the one boundary between templated's secrets and
// everything that leaves it for a person or a record: errors, logs, the
// daemon's /status, metrics labels, the ledger and build evidence. A
// Secrets holds the values (the Proxmox token secret, Packer's build
// password) and the forms they travel in (as is, base64, URL-escaped), and
// replaces them; Bound caps how much of any one text gets out.
package redact

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// MinSecretLen is the shortest value Secrets accepts: shorter ones would
// match inside ordinary text and turn redaction into noise that shows
// where they matched.
const MinSecretLen = 8

// Secrets is a set of secret values. The zero value is empty and ready;
// it is safe for concurrent use.
type Secrets struct {
	mu    sync.RWMutex
	forms []form // longest first
}

type form struct{ text, label string }

// Add records value under label ("[redacted LABEL]" replaces it; "" gives
// "[redacted]"). Values shorter than MinSecretLen are refused with an
// error naming the label, never the value.
func (s *Secrets) Add(label, value string) error {
	if value == "" {
		return nil
	}
	if len(value) < MinSecretLen {
		return fmt.Errorf("secret %s is %d characters: too short to keep out of logs (want at least %d)", label, len(value), MinSecretLen)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range Forms(value) {
		if !slices.ContainsFunc(s.forms, func(x form) bool { return x.text == f }) {
			s.forms = append(s.forms, form{f, label})
		}
	}
	slices.SortStableFunc(s.forms, func(a, b form) int { return len(b.text) - len(a.text) })
	return nil
}

// Forms are the ways value travels: as is, base64 (standard and raw URL)
// and URL-escaped.
func Forms(value string) []string {
	out := []string{value}
	for _, f := range []string{base64.StdEncoding.EncodeToString([]byte(value)),
		base64.RawURLEncoding.EncodeToString([]byte(value)), url.QueryEscape(value)} {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// String returns text with every form of every secret replaced.
func (s *Secrets) String(text string) string {
	if s == nil {
		return text
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, f := range s.forms {
		if strings.Contains(text, f.text) {
			text = strings.ReplaceAll(text, f.text, marker(f.label))
		}
	}
	return text
}

// Bytes is String for bytes; it returns b itself when nothing matched.
func (s *Secrets) Bytes(b []byte) []byte {
	if s == nil {
		return b
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, f := range s.forms {
		if bytes.Contains(b, []byte(f.text)) {
			b = bytes.ReplaceAll(b, []byte(f.text), []byte(marker(f.label)))
		}
	}
	return b
}

// Contains reports whether b holds any form of any secret.
func (s *Secrets) Contains(b []byte) bool {
	if s == nil {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.ContainsFunc(s.forms, func(f form) bool { return bytes.Contains(b, []byte(f.text)) })
}

func marker(label string) string {
	if label == "" {
		return "[redacted]"
	}
	return "[redacted " + label + "]"
}

// Bound cuts text to at most max bytes (at a rune boundary) and says how
// much was left out: no one error, log line or ledger field can carry an
// unbounded amount of input.
func Bound(text string, max int) string {
	if len(text) <= max {
		return text
	}
	n := max
	for n > 0 && !utf8.RuneStart(text[n]) {
		n--
	}
	return fmt.Sprintf("%s… (%d more bytes)", text[:n], len(text)-n)
}

// MaxErrorText is how much of one error reaches a log line, a ledger
// entry or /status.
const MaxErrorText = 16 << 10

// BoundError returns err with its text cut to max bytes by Bound; errors.Is
// and errors.As still see the original. Short errors are returned as they
// are.
func BoundError(err error, max int) error {
	if err == nil || len(err.Error()) <= max {
		return err
	}
	return &boundedError{msg: Bound(err.Error(), max), err: err}
}

type boundedError struct {
	msg string
	err error
}

func (e *boundedError) Error() string { return e.msg }
func (e *boundedError) Unwrap() error { return e.err }
