package gitsource

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// allowedSigner is one line of git's gpg.ssh.allowedSignersFile, in the
// format ssh-keygen(1) documents under ALLOWED SIGNERS:
//
//	principals [options] keytype base64-key [comment]
//
// The parsing follows OpenSSH's sshsig.c (parse_principals_key_and_options,
// sshsigopt_parse): principals may be double-quoted; options are
// comma-separated, case-insensitive, and their values must be
// double-quoted; unknown or repeated options are errors.
type allowedSigner struct {
	line        int
	principals  string // as written, without quotes
	key         ssh.PublicKey
	blob        []byte // key.Marshal()
	namespaces  string // a pattern-list; "" when the option is absent
	validAfter  time.Time
	validBefore time.Time
}

// principal is the first principal of the line, which is the one git
// reports (ssh-keygen -Y find-principals prints each on its own line and
// git takes the first that verifies).
func (a allowedSigner) principal() string {
	p, _, _ := strings.Cut(a.principals, ",")
	return p
}

// parseAllowedSigners parses a whole file strictly; every error names
// path:line. A file without a single entry is an error.
func parseAllowedSigners(path string, data []byte) ([]allowedSigner, error) {
	var out []allowedSigner
	for n, raw := range bytes.Split(data, []byte("\n")) {
		line := strings.TrimLeft(strings.TrimRight(string(raw), "\r"), " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		a, err := parseAllowedLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n+1, err)
		}
		a.line = n + 1
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no allowed signers", path)
	}
	return out, nil
}

func parseAllowedLine(line string) (allowedSigner, error) {
	var a allowedSigner
	principals, rest, err := nextToken(line)
	if err != nil {
		return a, fmt.Errorf("principals: %w", err)
	}
	if strings.Trim(principals, `"`) == "" || rest == "" {
		return a, errors.New("want: principals [options] keytype base64-key")
	}
	a.principals = strings.Trim(principals, `"`)
	if !sigIsKeyType(rest) {
		var opts string
		if opts, rest, err = nextToken(rest); err != nil {
			return a, fmt.Errorf("options: %w", err)
		}
		if err := a.parseOptions(opts); err != nil {
			return a, err
		}
	}
	f := strings.Fields(rest)
	if len(f) < 2 {
		return a, errors.New("missing key (want: principals [options] keytype base64-key)")
	}
	if a.key, err = parseSSHKey(f[0], f[1]); err != nil {
		return a, err
	}
	a.blob = a.key.Marshal()
	return a, nil
}

// nextToken splits off the first whitespace-delimited token, where
// whitespace inside double quotes does not delimit.
func nextToken(s string) (tok, rest string, err error) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted && i+1 < len(s) && s[i+1] == '"':
			i++
		case c == '"':
			quoted = !quoted
		case (c == ' ' || c == '\t') && !quoted:
			return s[:i], strings.TrimLeft(s[i:], " \t"), nil
		}
	}
	if quoted {
		return "", "", errors.New("unterminated quote")
	}
	return s, "", nil
}

func sigIsKeyType(s string) bool {
	for _, p := range []string{"ssh-", "ecdsa-sha2-", "sk-"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func parseSSHKey(typ, b64 string) (ssh.PublicKey, error) {
	blob, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%s key: bad base64: %w", typ, err)
	}
	key, err := ssh.ParsePublicKey(blob)
	if err != nil {
		return nil, fmt.Errorf("%s key: %w", typ, err)
	}
	if _, ok := key.(*ssh.Certificate); ok {
		return nil, fmt.Errorf("%s: certificate keys are not supported", typ)
	}
	if key.Type() != typ {
		return nil, fmt.Errorf("key type %s does not match the key, which is %s", typ, key.Type())
	}
	return key, nil
}

func (a *allowedSigner) parseOptions(opts string) error {
	seen := map[string]bool{}
	for opts != "" {
		name, val, hasVal, rest, err := nextOption(opts)
		if err != nil {
			return err
		}
		opts = rest
		name = strings.ToLower(name)
		if seen[name] {
			return fmt.Errorf("option %s given twice", name)
		}
		seen[name] = true
		switch name {
		case "cert-authority":
			return errors.New("cert-authority is not supported: list each signing key itself")
		case "namespaces", "valid-after", "valid-before":
			if !hasVal {
				return fmt.Errorf("option %s needs a double-quoted value", name)
			}
		default:
			return fmt.Errorf("unknown option %q", name)
		}
		switch name {
		case "namespaces":
			a.namespaces = val
		case "valid-after":
			a.validAfter, err = parseSSHTime(val)
		case "valid-before":
			a.validBefore, err = parseSSHTime(val)
		}
		if err != nil {
			return fmt.Errorf("option %s: %w", name, err)
		}
	}
	if !a.validAfter.IsZero() && !a.validBefore.IsZero() && !a.validBefore.After(a.validAfter) {
		return errors.New("valid-before is not after valid-after")
	}
	return nil
}

// nextOption reads `name` or `name="value"` and the comma after it.
func nextOption(s string) (name, val string, hasVal bool, rest string, err error) {
	i := strings.IndexAny(s, "=,")
	if i < 0 {
		return s, "", false, "", nil
	}
	name = s[:i]
	if name == "" {
		return "", "", false, "", errors.New("empty option")
	}
	if s[i] == ',' {
		return name, "", false, sigAfterComma(s[i+1:]), nil
	}
	s = s[i+1:]
	if !strings.HasPrefix(s, `"`) {
		return "", "", false, "", fmt.Errorf("option %s: value must be in double quotes", name)
	}
	var b strings.Builder
	for j := 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && j+1 < len(s) && s[j+1] == '"':
			b.WriteByte('"')
			j++
		case s[j] == '"':
			rest = s[j+1:]
			if rest != "" && rest[0] != ',' {
				return "", "", false, "", fmt.Errorf("option %s: junk after the closing quote", name)
			}
			if rest != "" {
				rest = sigAfterComma(rest[1:])
			}
			return name, b.String(), true, rest, nil
		default:
			b.WriteByte(s[j])
		}
	}
	return "", "", false, "", fmt.Errorf("option %s: missing closing quote", name)
}

// sigAfterComma keeps what follows a comma, marking a trailing comma so
// the caller sees an empty option.
func sigAfterComma(s string) string {
	if s == "" {
		return ","
	}
	return s
}
