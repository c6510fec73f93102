package image

import (
	"errors"
	"fmt"
	"strings"
)

// bsdTags maps a BSD/--tag line's tag (upper case) to its algorithm; the
// refused ones are recognised only to say why.
var bsdTags = map[string]Algorithm{
	"SHA256": SHA256, "SHA2-256": SHA256,
	"SHA512": SHA512, "SHA2-512": SHA512,
	"MD5": "md5", "SHA1": "sha1", "SHA224": "sha224", "SHA384": "sha384",
	"SHA2-224": "sha224", "SHA2-384": "sha384",
}

// parseLine reads one checksum line in the GNU or the BSD layout.
func parseLine(line string) (Entry, error) {
	if tag, rest, ok := strings.Cut(line, " ("); ok && isTag(tag) {
		return parseBSD(tag, rest)
	}
	return parseGNU(line)
}

// isTag reports whether s looks like a BSD tag: letters, digits and '-',
// starting with a letter that is no hex digit (so no GNU digest is one).
func isTag(s string) bool {
	if s == "" || !('G' <= s[0] && s[0] <= 'Z' || 'g' <= s[0] && s[0] <= 'z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// parseBSD reads the rest of "TAG (NAME) = HEX" after "TAG (". The name
// ends at the last ") = ", so a name may itself hold parentheses.
func parseBSD(tag, rest string) (Entry, error) {
	i := strings.LastIndex(rest, ") = ")
	if i < 0 {
		return Entry{}, errors.New(`BSD-style line without ") = "`)
	}
	name, digest := rest[:i], strings.TrimSpace(rest[i+4:])
	alg, ok := bsdTags[strings.ToUpper(tag)]
	if !ok {
		return Entry{}, fmt.Errorf("unknown checksum tag %q", tag)
	}
	if refused[alg] {
		return Entry{}, refusedError(string(alg))
	}
	return entry(name, alg, digest)
}

// parseGNU reads "HEX  NAME", "HEX *NAME" (binary mode) or "HEX NAME"; a
// leading backslash says NAME is escaped (\\, \n, \r), as coreutils writes
// names holding those characters.
func parseGNU(line string) (Entry, error) {
	escaped := false
	if strings.HasPrefix(line, `\`) {
		escaped, line = true, line[1:]
	}
	end := strings.IndexAny(line, " \t")
	if end <= 0 {
		return Entry{}, errors.New("not a checksum line")
	}
	digest, name := line[:end], line[end+1:]
	if !isHex(digest) {
		return Entry{}, errors.New("not a checksum line")
	}
	if name != "" && (name[0] == '*' || name[0] == ' ') {
		name = name[1:]
	}
	if escaped {
		var err error
		if name, err = unescape(name); err != nil {
			return Entry{}, err
		}
	}
	alg, err := algorithmByLen(len(digest))
	if err != nil {
		return Entry{}, err
	}
	return entry(name, alg, digest)
}

func entry(name string, alg Algorithm, digest string) (Entry, error) {
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	if name == "" {
		return Entry{}, errors.New("checksum line without a file name")
	}
	c, err := newChecksum(alg, digest)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Name: name, Checksum: c}, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if hexClass[s[i]] == 0 {
			return false
		}
	}
	return s != ""
}

// unescape undoes coreutils' escaping of a file name.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", errors.New("escaped name ends in a backslash")
		}
		i++
		switch s[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			return "", fmt.Errorf(`unknown escape \%c in name`, s[i])
		}
	}
	return b.String(), nil
}
