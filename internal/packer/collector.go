package packer

import (
	"io"
	"slices"
	"strings"
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
	redact     *strings.Replacer // nil: nothing to redact
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

func (c *collector) scrub(s string) string {
	if c.redact == nil {
		return s
	}
	return c.redact.Replace(s)
}

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

// redactor replaces the values of secret-looking variables (4 bytes or
// longer), longest first, with "[redacted KEY]".
func redactor(env map[string]string) *strings.Replacer {
	type kv struct{ k, v string }
	var secrets []kv
	for k, v := range env {
		if isSecretKey(k) && len(v) >= 4 {
			secrets = append(secrets, kv{k, v})
		}
	}
	if len(secrets) == 0 {
		return nil
	}
	slices.SortFunc(secrets, func(a, b kv) int {
		if d := len(b.v) - len(a.v); d != 0 {
			return d
		}
		return strings.Compare(a.k, b.k)
	})
	var oldnew []string
	for _, s := range secrets {
		oldnew = append(oldnew, s.v, "[redacted "+s.k+"]")
	}
	return strings.NewReplacer(oldnew...)
}
