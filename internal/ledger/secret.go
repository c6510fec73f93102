package ledger

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"templated/internal/redact"
)

// ContainsSecret reports whether text holds secret in any form it travels
// in (redact.Forms: as is, base64-encoded, URL-escaped).
func ContainsSecret(text []byte, secret string) bool {
	if secret == "" {
		return false
	}
	for _, form := range redact.Forms(secret) {
		if bytes.Contains(text, []byte(form)) {
			return true
		}
	}
	return false
}

// FindSecret walks root and returns the files (relative, slash-separated)
// that contain secret in any form ContainsSecret knows. Tests use it to
// prove that the ledger and evidence never hold the token.
func FindSecret(root, secret string) ([]string, error) {
	var hits []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if ContainsSecret(b, secret) {
			rel, _ := filepath.Rel(root, p)
			hits = append(hits, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("search for secret: %w", err)
	}
	return hits, nil
}
