package ledger

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// ContainsSecret reports whether text holds secret as is, base64-encoded or
// URL-escaped.
func ContainsSecret(text []byte, secret string) bool {
	if secret == "" {
		return false
	}
	for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.RawURLEncoding.EncodeToString([]byte(secret)), url.QueryEscape(secret)} {
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
