package proxmox

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"
)

// Environment variable names of the .env format (see doc.go).
const (
	EnvURL          = "PROXMOX_URL"
	EnvTokenID      = "PROXMOX_TOKEN_ID"
	EnvTokenSecret  = "PROXMOX_TOKEN_SECRET"
	EnvNode         = "PROXMOX_NODE"
	EnvStorage      = "PROXMOX_STORAGE"
	EnvISOStorage   = "PROXMOX_ISO_STORAGE"
	EnvCAFile       = "PROXMOX_CA_FILE"
	EnvInsecureSkip = "PROXMOX_INSECURE_SKIP_TLS_VERIFY"
)

// CredentialTokenSecret is the systemd credential (LoadCredential=) that
// holds the token secret when PROXMOX_TOKEN_SECRET is not set.
const CredentialTokenSecret = "proxmox-token-secret"

// Keys lists every key of the .env format in documentation order.
var Keys = []string{EnvURL, EnvTokenID, EnvTokenSecret, EnvNode, EnvStorage, EnvISOStorage, EnvCAFile, EnvInsecureSkip}

// Secret is the API token secret. It prints as "[redacted]" with every fmt
// verb and in JSON; call Reveal to get the value.
type Secret string

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return `"[redacted]"` }

// MarshalText keeps the secret out of JSON, YAML and text encodings.
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Reveal returns the secret itself. Only the HTTP Authorization header
// needs it.
func (s Secret) Reveal() string { return string(s) }

// Config holds the connection settings of one Proxmox VE cluster.
type Config struct {
	URL                   string // normalised: scheme://host[:port]/api2/json
	TokenID               string // USER@REALM!TOKENID
	TokenSecret           Secret
	Node                  string
	Storage               string
	ISOStorage            string
	CAFile                string
	InsecureSkipTLSVerify bool
}

// String describes the config without the secret.
func (c Config) String() string {
	secret := "unset"
	if c.TokenSecret != "" {
		secret = "[redacted]"
	}
	return fmt.Sprintf("url=%s token_id=%s token_secret=%s node=%s storage=%s iso_storage=%s ca_file=%s insecure_skip_tls_verify=%t",
		c.URL, c.TokenID, secret, c.Node, c.Storage, c.ISOStorage, c.CAFile, c.InsecureSkipTLSVerify)
}

// GoString is String, so that %#v does not print the secret either.
func (c Config) GoString() string { return "proxmox.Config{" + c.String() + "}" }

// Redacted is String; it exists so call sites say what they mean.
func (c Config) Redacted() string { return c.String() }

// LoadConfig reads the connection settings. envFile (may be "") is read
// first; then every variable getenv returns non-empty overrides the file's
// value (getenv may be nil: os.Getenv). Without PROXMOX_TOKEN_SECRET the
// secret is read from $CREDENTIALS_DIRECTORY/proxmox-token-secret when that
// exists (systemd LoadCredential=). A file that contains
// PROXMOX_TOKEN_SECRET must not be readable by group or others.
func LoadConfig(envFile string, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	vals := map[string]string{}
	where := map[string]string{} // key → "FILE:LINE: " for values from the file
	if envFile != "" {
		fileVals, lines, err := readEnvFile(envFile)
		if err != nil {
			return Config{}, err
		}
		vals = fileVals
		for k, n := range lines {
			where[k] = fmt.Sprintf("%s:%d: ", envFile, n)
		}
	}
	for _, k := range Keys {
		if v := getenv(k); v != "" {
			vals[k] = v
			delete(where, k)
		}
	}
	if vals[EnvTokenSecret] == "" {
		// systemd's LoadCredential=proxmox-token-secret:... puts the
		// secret in a file only this service can read.
		if dir := getenv("CREDENTIALS_DIRECTORY"); dir != "" {
			b, err := os.ReadFile(filepath.Join(dir, CredentialTokenSecret))
			switch {
			case err == nil:
				vals[EnvTokenSecret] = strings.TrimSpace(string(b))
			case !errors.Is(err, os.ErrNotExist):
				return Config{}, fmt.Errorf("proxmox config: read credential %s: %w", CredentialTokenSecret, err)
			}
		}
	}
	return configFrom(vals, envFile, where)
}

// configFrom checks vals; where says which came from which line of the env
// file, for the errors.
func configFrom(vals map[string]string, envFile string, where map[string]string) (Config, error) {
	src := "environment"
	if envFile != "" {
		src = "environment or " + envFile
	}
	c := Config{
		TokenID:     strings.TrimSpace(vals[EnvTokenID]),
		TokenSecret: Secret(strings.TrimSpace(vals[EnvTokenSecret])),
		Node:        vals[EnvNode],
		Storage:     vals[EnvStorage],
		ISOStorage:  vals[EnvISOStorage],
		CAFile:      vals[EnvCAFile],
	}
	var missing []string
	for _, k := range []string{EnvURL, EnvTokenID, EnvTokenSecret} {
		if strings.TrimSpace(vals[k]) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return Config{}, fmt.Errorf("proxmox config: %s not set (in the %s)", strings.Join(missing, ", "), src)
	}
	u, err := NormalizeURL(vals[EnvURL])
	if err != nil {
		return Config{}, fmt.Errorf("proxmox config: %s%s: %w", where[EnvURL], EnvURL, err)
	}
	c.URL = u
	var tid pxapi.ApiTokenID
	if err := tid.Parse(c.TokenID); err != nil || strings.ContainsAny(c.TokenID, "= \t") {
		return Config{}, fmt.Errorf("proxmox config: %s%s %q is not of the form USER@REALM!TOKENID (e.g. root@pam!templated; the secret goes in %s)", where[EnvTokenID], EnvTokenID, tokenIDShown(c.TokenID), EnvTokenSecret)
	}
	if v := strings.TrimSpace(vals[EnvInsecureSkip]); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("proxmox config: %s%s=%q: want true or false", where[EnvInsecureSkip], EnvInsecureSkip, v)
		}
		c.InsecureSkipTLSVerify = b
	}
	if c.CAFile != "" {
		if _, err := loadCAPool(c.CAFile); err != nil {
			return Config{}, fmt.Errorf("proxmox config: %s%s: %w", where[EnvCAFile], EnvCAFile, err)
		}
	}
	return c, nil
}

// tokenIDShown is what an error may show of a token id that failed to
// parse: the part before any '=' or blank, since a pasted
// "USER@REALM!TOKENID=SECRET" header value would otherwise put the secret
// in the message.
func tokenIDShown(id string) string {
	if i := strings.IndexAny(id, "= \t"); i >= 0 {
		return id[:i] + "…"
	}
	return id
}

// NormalizeURL accepts "https://pve:8006", "https://pve:8006/" or
// "https://pve:8006/api2/json" and returns the last form.
func NormalizeURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("invalid URL %q: %w", raw, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("URL %q must start with https:// (e.g. https://pve.example.com:8006)", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("URL %q has no host", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		u.RawQuery, u.Fragment = "", ""
		return "", fmt.Errorf("URL %q must not contain credentials, a query or a fragment", u.Redacted())
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/api2/json")
	u.Path = p + "/api2/json"
	return u.String(), nil
}

func loadCAPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s contains no PEM certificate", file)
	}
	return pool, nil
}

// TLSConfig returns the client TLS settings: system roots plus CAFile,
// verification always on unless InsecureSkipTLSVerify.
func (c Config) TLSConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pool, err := loadCAPool(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvCAFile, err)
		}
		tc.RootCAs = pool
	}
	if c.InsecureSkipTLSVerify {
		tc.InsecureSkipVerify = true
	}
	return tc, nil
}
