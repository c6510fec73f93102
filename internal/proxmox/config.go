package proxmox

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"templated/internal/atomicfile"
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
		v, err := ReadCredential(getenv, CredentialTokenSecret)
		if err != nil {
			return Config{}, fmt.Errorf("proxmox config: %w", err)
		}
		vals[EnvTokenSecret] = v
	}
	return configFrom(vals, envFile, where)
}

// ReadCredential reads the systemd credential name (LoadCredential=
// puts it in $CREDENTIALS_DIRECTORY, readable by this service only),
// trimmed; it returns "" when there is no such credential.
func ReadCredential(getenv func(string) string, name string) (string, error) {
	dir := getenv("CREDENTIALS_DIRECTORY")
	if dir == "" {
		return "", nil
	}
	b, _, err := atomicfile.ReadRegular(filepath.Join(dir, name), maxEnvFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read credential %s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
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
	if err := checkTokenID(c.TokenID); err != nil {
		return Config{}, fmt.Errorf("proxmox config: %s%s is not of the form USER@REALM!TOKENID (e.g. root@pam!templated): it %w", where[EnvTokenID], EnvTokenID, err)
	}
	if n := utf8.RuneCountInString(string(c.TokenSecret)); n < MinSecretLen {
		return Config{}, fmt.Errorf("proxmox config: %s%s is shorter than a Proxmox token secret (a UUID of %d characters, as pveum user token add prints it): is it a placeholder or cut short?",
			where[EnvTokenSecret], EnvTokenSecret, MinSecretLen)
	}
	if v := strings.TrimSpace(vals[EnvInsecureSkip]); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("proxmox config: %s%s=%s: want true or false", where[EnvInsecureSkip], EnvInsecureSkip, shortValue(v))
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

// tokenIDShown is what an error may show of a token id: the id when it has
// PVE's syntax, else nothing of it, since a malformed one may hold the
// secret ("USER@REALM!TOKENID=SECRET" pasted from a header, or the secret
// alone).
func tokenIDShown(id string) string {
	if checkTokenID(id) != nil {
		return "[not shown]"
	}
	return id
}

// PVE's formats for a token id, USER@REALM!TOKENID (pve-access-control:
// PVE::Auth::Plugin $user_regex and $realm_regex, PVE::AccessControl
// $token_subid_regex = $realm_regex and pve_verify_tokenid; verify_username
// wants USER@REALM of 3 to 64 characters). '=' is refused as well: the
// Authorization header separates the id from the secret with it.
var (
	pveUser    = regexp.MustCompile(`^[^\s\v:/=]+$`)
	pveRealm   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]+$`)
	pveTokenID = pveRealm
)

// checkTokenID checks a token id against PVE's syntax. Its errors say what
// is wrong without quoting the id.
func checkTokenID(id string) error {
	// USER may hold '@' and '!'; REALM and TOKENID hold neither.
	bang := strings.LastIndexByte(id, '!')
	userid, token, hasToken := id, "", bang >= 0
	if hasToken {
		userid, token = id[:bang], id[bang+1:]
	}
	at := strings.LastIndexByte(userid, '@')
	switch {
	case strings.ContainsAny(id, ":= \t"):
		return errors.New("contains ':', '=' or a blank, as a token id pasted with its secret does; the secret goes in " + EnvTokenSecret)
	case !utf8.ValidString(id) || strings.IndexFunc(id, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return errors.New("contains a character that is not printable")
	case !hasToken:
		return errors.New("has no !TOKENID after USER@REALM")
	case at < 0:
		return errors.New("has no @REALM before !TOKENID")
	case !pveUser.MatchString(userid[:at]):
		return errors.New("has an empty user name or one with '/' in it")
	case !pveRealm.MatchString(userid[at+1:]):
		return errors.New("has a realm that is not a letter then letters, digits, '.', '-' or '_' (at least 2 characters)")
	case !pveTokenID.MatchString(token):
		return errors.New("has a token name that is not a letter then letters, digits, '.', '-' or '_' (at least 2 characters)")
	case utf8.RuneCountInString(userid) < 3 || utf8.RuneCountInString(userid) > 64:
		return errors.New("has a USER@REALM shorter than 3 or longer than 64 characters")
	}
	return nil
}

// MinSecretLen is the length of a PVE token secret (a UUID). A shorter one
// is a placeholder or a truncated paste, and would make redacting it from
// Packer's output match everywhere.
const MinSecretLen = 36

// shortValue shows v when it is too short to be a secret.
func shortValue(v string) string {
	if len(v) <= 8 {
		return strconv.Quote(v)
	}
	return fmt.Sprintf("<%d characters>", utf8.RuneCountInString(v))
}

// NormalizeURL accepts "https://pve:8006", "https://pve:8006/" or
// "https://pve:8006/api2/json" and returns the last form. Its errors never
// quote the URL: one pasted with credentials, or mistyped around them,
// would put the token secret in logs. They say what is wrong, naming the
// scheme and host only once those parse.
func NormalizeURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if hasUserinfo(raw) {
		return "", errors.New("URL must not contain credentials (USER:SECRET@); set PROXMOX_TOKEN_ID and PROXMOX_TOKEN_SECRET instead")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("URL is not valid: %s", urlProblem(err))
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		got := ""
		if u.Scheme != "" && len(u.Scheme) <= 16 {
			got = fmt.Sprintf(", not %s://", u.Scheme)
		}
		return "", fmt.Errorf("URL must start with https://%s (e.g. https://pve.example.com:8006)", got)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return "", fmt.Errorf("URL has no host after %s:// (e.g. https://pve.example.com:8006)", u.Scheme)
	}
	if u.User != nil {
		return "", errors.New("URL must not contain credentials (USER:SECRET@); set PROXMOX_TOKEN_ID and PROXMOX_TOKEN_SECRET instead")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("URL of host %s must not contain a query or a fragment", u.Host)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("URL of host %s has a port outside 1-65535", u.Hostname())
		}
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/api2/json")
	u.Path, u.RawPath = p+"/api2/json", ""
	return u.String(), nil
}

// hasUserinfo reports whether raw has an '@' before its path: credentials,
// whether or not the rest parses.
func hasUserinfo(raw string) bool {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return false
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return strings.Contains(rest, "@")
}

// urlProblem says what url.Parse found wrong, without the text it quotes.
func urlProblem(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var esc url.EscapeError
	msg := err.Error()
	switch {
	case errors.As(err, &esc):
		return "it has a malformed %-escape"
	case strings.HasPrefix(msg, "invalid port"):
		return "its port is not a number"
	case strings.Contains(msg, "control character"):
		return "it contains a control character"
	case strings.Contains(msg, "missing protocol scheme"):
		return "it does not start with https://"
	case strings.Contains(msg, "IPv6") || strings.Contains(msg, "]"):
		return "its IPv6 host is malformed"
	}
	return "it cannot be parsed as https://HOST:PORT"
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
