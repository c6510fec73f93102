package mirror

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Mapping sends the URLs under From to the same paths under To: From is a
// vendor's prefix ("https://cloud-images.ubuntu.com/"), To the mirror's
// ("http://mirror.internal/ubuntu/"). Both are http(s) URLs ending in "/",
// with the scheme and host in lower case.
type Mapping struct {
	From, To string
}

// ParseMirrors reads a TEMPLATED_IMAGE_MIRRORS value: comma-separated
// FROM=TO pairs (split at the first "="), spaces around a pair ignored; an
// empty value maps nothing. FROM and TO must be http or https URLs with a
// host, ending in "/", without user, query or fragment; a FROM may appear
// once. Errors name the pair by position (counting from 1) and never
// repeat a URL that holds a user or a password.
func ParseMirrors(s string) ([]Mapping, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []Mapping
	seen := map[string]int{}
	for i, pair := range strings.Split(s, ",") {
		n := i + 1
		pair = strings.TrimSpace(pair)
		if pair == "" {
			return nil, fmt.Errorf("mirrors: pair %d: empty (want FROM=TO)", n)
		}
		from, to, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("mirrors: pair %d: no \"=\" (want FROM=TO)", n)
		}
		f, err := prefix(from)
		if err != nil {
			return nil, fmt.Errorf("mirrors: pair %d: FROM: %w", n, err)
		}
		t, err := prefix(to)
		if err != nil {
			return nil, fmt.Errorf("mirrors: pair %d: TO: %w", n, err)
		}
		if m, dup := seen[f]; dup {
			return nil, fmt.Errorf("mirrors: pair %d: FROM %s is already mapped by pair %d", n, f, m)
		}
		seen[f] = n
		out = append(out, Mapping{From: f, To: t})
	}
	return out, nil
}

// prefix checks one side of a pair and returns it with its scheme and
// host in lower case.
func prefix(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return "", errors.New("not a URL")
		}
		return "", fmt.Errorf("%q is not a URL", s)
	}
	if u.User != nil {
		return "", errors.New("must not hold a user or password")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%q: want http:// or https://", s)
	case u.Host == "":
		return "", fmt.Errorf("%q: no host", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("%q: want no query or fragment", s)
	case !strings.HasSuffix(s, "/"):
		return "", fmt.Errorf("%q: must end in \"/\"", s)
	}
	return lowerOrigin(s), nil
}

// lowerOrigin lower-cases the scheme and the host of an absolute URL (what
// comes before the first "/" after "://").
func lowerOrigin(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	end := len(s)
	if j := strings.IndexByte(s[i+3:], '/'); j >= 0 {
		end = i + 3 + j
	}
	return strings.ToLower(s[:end]) + s[end:]
}

// Rewrite returns rawURL with the longest matching From replaced by its
// To, or rawURL unchanged when no From is a prefix of it. The scheme and
// host are compared without regard to case; the rest of the URL (path,
// query) is kept as it is.
func Rewrite(ms []Mapping, rawURL string) string {
	norm := lowerOrigin(rawURL)
	best := -1
	for i, m := range ms {
		if strings.HasPrefix(norm, m.From) && (best < 0 || len(m.From) > len(ms[best].From)) {
			best = i
		}
	}
	if best < 0 {
		return rawURL
	}
	return ms[best].To + norm[len(ms[best].From):]
}
