package packer

import (
	"io"
	"maps"
	"slices"
	"strings"

	"templated/internal/redact"
)

const (
	maxErrors   = 32      // ui,error messages kept for BuildError
	maxErrorLen = 4 << 10 // bytes kept of each
)

// collector turns one build's output lines into readable text for Output
// and the tail, and picks out the artifact ID and Packer's error messages.
// The process runner calls line serially.
type collector struct {
	out        io.Writer
	prefix     string
	tail       *ring
	redact     *redact.Secrets // nil: nothing to redact
	errors     []string
	artifactID string
	buf        []byte
}

func newCollector(name string, out io.Writer, env map[string]string) *collector {
	if out == nil {
		out = io.Discard
	}
	return &collector{out: out, prefix: name + ": ", tail: newRing(tailSize), redact: redactor(env)}
}

func (c *collector) line(raw []byte) {
	s := strings.TrimRight(string(raw), "\r\n")
	m, ok := parseMachine(s)
	if !ok {
		c.emit(c.scrub(s))
		return
	}
	if idx, id, ok := m.artifactID(); ok && idx == "0" && c.artifactID == "" {
		c.artifactID = id
	}
	text, isErr, ok := m.uiText()
	if !ok {
		return
	}
	text = c.scrub(strings.TrimRight(text, "\r\n"))
	if isErr {
		if msg := strings.TrimSpace(text); msg != "" {
			if len(msg) > maxErrorLen {
				msg = msg[:maxErrorLen] + "..."
			}
			if len(c.errors) == maxErrors {
				c.errors = slices.Delete(c.errors, 0, 1)
			}
			c.errors = append(c.errors, msg)
		}
	}
	for l := range strings.SplitSeq(text, "\n") {
		c.emit(l)
	}
}

// emit writes one readable line to the tail and, prefixed, to the output.
func (c *collector) emit(l string) {
	l = strings.TrimRight(l, " \t\r")
	c.buf = append(c.buf[:0], l...)
	c.buf = append(c.buf, '\n')
	c.tail.Write(c.buf)
	c.buf = append(c.buf[:0], c.prefix...)
	if l == "" {
		c.buf = c.buf[:len(c.buf)-1] // "name:" without a trailing space
	}
	c.buf = append(c.buf, l...)
	c.buf = append(c.buf, '\n')
	_, _ = c.out.Write(c.buf) // a failing log writer must not fail the build
}

func (c *collector) scrub(s string) string { return c.redact.String(s) }

// secretKeyWords mark environment variables whose values are redacted.
var secretKeyWords = []string{"TOKEN", "SECRET", "PASSW", "KEY", "CREDENTIAL", "AUTH"}

// isSecretKey tells whether an environment variable's value is redacted:
// its name contains one of secretKeyWords and does not end in _ID
// (PROXMOX_TOKEN_ID names the token; PROXMOX_TOKEN_SECRET is the secret).
func isSecretKey(k string) bool {
	k = strings.ToUpper(k)
	if strings.HasSuffix(k, "_ID") {
		return false
	}
	return slices.ContainsFunc(secretKeyWords, func(w string) bool { return strings.Contains(k, w) })
}

// redactor holds the values of secret-looking variables, each replaced
// (in every form it travels in) by "[redacted KEY]"; nil when there are
// none. Values shorter than redact.MinSecretLen are left: replacing them
// would turn Packer's output into noise that shows where they matched.
func redactor(env map[string]string) *redact.Secrets {
	var s redact.Secrets
	n := 0
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if v := env[k]; isSecretKey(k) && len(v) >= redact.MinSecretLen {
			if s.Add(k, v) == nil {
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	return &s
}
