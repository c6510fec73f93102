package proxmox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"templated/internal/atomicfile"
)

// ErrInsecureEnvFile is returned when an env file that holds the token
// secret or sets TLS verification (PROXMOX_CA_FILE,
// PROXMOX_INSECURE_SKIP_TLS_VERIFY) can be read or written by group or
// others.
var ErrInsecureEnvFile = errors.New("env file holding the token secret or TLS settings is open to group or others")

// privateKeys are the keys an env file may set only when group and others
// have no access to it: the secrets (the token's, and the git remote's
// password and webhook secret the daemon reads from the same file), and
// what decides whom the token is sent to.
var privateKeys = []string{EnvTokenSecret, EnvCAFile, EnvInsecureSkip, "TEMPLATED_GIT_PASSWORD", "TEMPLATED_GIT_WEBHOOK_SECRET"}

// maxEnvFile bounds what is read of an env file or credential.
const maxEnvFile = 1 << 20

var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ReadEnvFile reads templated's env file (the format of doc.go) for the
// keys other parts of templated keep there (TEMPLATED_GIT_*): it returns
// every key with its line, and refuses the file as LoadConfig does (a
// private key in a file others can open, an unknown PROXMOX_ key).
func ReadEnvFile(path string) (vals map[string]string, lines map[string]int, err error) {
	return readEnvFile(path)
}

// readEnvFile parses KEY=VALUE lines (see doc.go). Keys outside the
// PROXMOX_ namespace are ignored; unknown PROXMOX_ keys are errors, so a
// typo does not silently drop a setting. lines maps each key to its line.
func readEnvFile(path string) (vals map[string]string, lines map[string]int, err error) {
	data, fi, err := atomicfile.ReadRegular(path, maxEnvFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read env file: %w", err)
	}
	vals, lines, err = parseEnv(path, data)
	if err != nil {
		return nil, nil, err
	}
	var set []string
	for _, k := range privateKeys {
		if _, ok := vals[k]; ok {
			set = append(set, k)
		}
	}
	if perm := fi.Mode().Perm(); len(set) > 0 && perm&0o077 != 0 {
		return nil, nil, fmt.Errorf("%s (mode %04o) sets %s but group or others can open it; run: chmod 600 %s: %w",
			path, perm, strings.Join(set, " and "), path, ErrInsecureEnvFile)
	}
	return vals, lines, nil
}

func parseEnv(path string, data []byte) (vals map[string]string, lines map[string]int, err error) {
	vals, lines = map[string]string{}, map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || !envKeyRE.MatchString(key) {
			return nil, nil, fmt.Errorf("%s:%d: expected KEY=VALUE", path, n)
		}
		v, err := unquote(strings.TrimSpace(val))
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %s: %w", path, n, key, err)
		}
		if strings.HasPrefix(key, "PROXMOX_") && !slices.Contains(Keys, key) {
			return nil, nil, fmt.Errorf("%s:%d: unknown key %s (known: %s)", path, n, key, strings.Join(Keys, ", "))
		}
		if _, dup := vals[key]; dup {
			return nil, nil, fmt.Errorf("%s:%d: %s set twice", path, n, key)
		}
		vals[key], lines[key] = v, n
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read env file %s: %w", path, err)
	}
	return vals, lines, nil
}

// unquote handles 'single' (literal), "double" (\" \\ \n \$ escapes) and
// bare values; a bare value ends at " #" (a comment).
func unquote(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	switch q := v[0]; q {
	case '\'':
		end := strings.IndexByte(v[1:], '\'')
		if end < 0 {
			return "", errors.New("unterminated single quote")
		}
		if rest := strings.TrimSpace(v[end+2:]); rest != "" && !strings.HasPrefix(rest, "#") {
			return "", errors.New("text after closing quote")
		}
		return v[1 : end+1], nil
	case '"':
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			switch c := v[i]; c {
			case '\\':
				if i+1 >= len(v) {
					return "", errors.New("unterminated double quote")
				}
				i++
				switch v[i] {
				case 'n':
					b.WriteByte('\n')
				default:
					b.WriteByte(v[i])
				}
			case '"':
				if rest := strings.TrimSpace(v[i+1:]); rest != "" && !strings.HasPrefix(rest, "#") {
					return "", errors.New("text after closing quote")
				}
				return b.String(), nil
			default:
				b.WriteByte(c)
			}
		}
		return "", errors.New("unterminated double quote")
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v, nil
}
