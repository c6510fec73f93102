package notify

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"templated/internal/atomicfile"
)

// Secrets looks up the secrets the desired file names (url_secret,
// hmac_secret, token_secret). Lookup fails with an error wrapping
// ErrNoSecret when name is not set; its errors never hold a value.
type Secrets interface {
	Lookup(name string) (string, error)
}

// ErrNoSecret says a secret is not set anywhere Secrets looks.
var ErrNoSecret = errors.New("not set")

// maxSecret bounds a secret read from a credential file.
const maxSecret = 64 << 10

var secretName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// SecretMap is a Secrets over values (the environment, then the env
// file, as the caller merged them) and the systemd credentials in
// CredentialsDir ($CREDENTIALS_DIRECTORY; LoadCredential=NAME:PATH makes
// the file NAME there). Values win; empty values count as unset.
type SecretMap struct {
	Values         map[string]string
	CredentialsDir string
}

// Lookup implements Secrets.
func (s SecretMap) Lookup(name string) (string, error) {
	if !secretName.MatchString(name) {
		return "", fmt.Errorf("secret %q: not a secret name", clipWord(name))
	}
	if v := strings.TrimSpace(s.Values[name]); v != "" {
		return v, nil
	}
	if s.CredentialsDir != "" {
		b, _, err := atomicfile.ReadRegular(filepath.Join(s.CredentialsDir, name), maxSecret)
		switch {
		case err == nil:
			if v := strings.TrimSpace(string(b)); v != "" {
				return v, nil
			}
		case !errors.Is(err, os.ErrNotExist):
			return "", fmt.Errorf("secret %s: read credential: %w", name, err)
		}
	}
	return "", fmt.Errorf("secret %s: %w (in the environment, the env file or $CREDENTIALS_DIRECTORY)", name, ErrNoSecret)
}
