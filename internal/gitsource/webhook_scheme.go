package gitsource

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The webhook schemes, told apart by which signature header a request
// carries, checked in this order (the first present wins, even when empty):
//
//   - forgejo: X-Forgejo-Signature: hex HMAC-SHA256(secret, body), no
//     prefix; event X-Forgejo-Event ("push"), delivery X-Forgejo-Delivery.
//   - gitea: X-Gitea-Signature, the same; X-Gitea-Event, X-Gitea-Delivery.
//     Forgejo also sends the X-Gitea-* headers, and both also send
//     X-Hub-Signature-256 and X-GitHub-Event in GitHub's form (Gitea's
//     services/webhook/deliver.go), which is why they come first.
//   - github: X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>;
//     event X-GitHub-Event ("push"; "ping" when a hook is created),
//     delivery X-GitHub-Delivery.
//   - gitlab: X-Gitlab-Token: the secret itself (compared in constant
//     time); event X-Gitlab-Event ("Push Hook", "Tag Push Hook"), delivery
//     X-Gitlab-Event-UUID.
//   - generic (curl from CI, say): X-Templated-Signature:
//     t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>, more
//     than one v1 allowed (any may match); t must be within 5 minutes of
//     now. Every generic delivery is a push; X-Templated-Delivery, if sent,
//     is logged as its id.
//
// A request with none of these headers is refused as unsigned; its scheme
// is guessed from its event header for the log only.
//
// Gitea and Forgejo must be set to send application/json (their form
// encoding puts the JSON in a "payload" field, which is refused as 400).
type hookScheme struct {
	name           string
	sigHeader      string
	eventHeader    string
	deliveryHeader string
}

var hookSchemes = []hookScheme{
	{"forgejo", "X-Forgejo-Signature", "X-Forgejo-Event", "X-Forgejo-Delivery"},
	{"gitea", "X-Gitea-Signature", "X-Gitea-Event", "X-Gitea-Delivery"},
	{"github", "X-Hub-Signature-256", "X-GitHub-Event", "X-GitHub-Delivery"},
	{"gitlab", "X-Gitlab-Token", "X-Gitlab-Event", "X-Gitlab-Event-UUID"},
	{"generic", "X-Templated-Signature", "", "X-Templated-Delivery"},
}

func detectHookScheme(h http.Header) hookScheme {
	for _, s := range hookSchemes {
		if len(h.Values(s.sigHeader)) > 0 {
			return s
		}
	}
	for _, s := range hookSchemes {
		if s.eventHeader != "" && len(h.Values(s.eventHeader)) > 0 {
			s.sigHeader = "" // unsigned: verify refuses
			return s
		}
	}
	generic := hookSchemes[len(hookSchemes)-1]
	generic.sigHeader = ""
	return generic
}

// Event kinds.
const (
	hookPush = iota
	hookPing
	hookOther
)

func (s hookScheme) event(h http.Header) string {
	if s.eventHeader == "" {
		return "push"
	}
	return headerValue(h, s.eventHeader)
}

func (s hookScheme) kind(event string) int {
	switch {
	case s.name == "gitlab" && (event == "Push Hook" || event == "Tag Push Hook"):
		return hookPush
	case s.name != "gitlab" && event == "push":
		return hookPush
	case event == "ping":
		return hookPing
	}
	return hookOther
}

// verify returns "" when the request is authentic, else why not (for the
// response and the log: never the expected or the given value).
func (s hookScheme) verify(w *webhook, h http.Header, body []byte) string {
	if s.sigHeader == "" {
		return "missing signature"
	}
	given := strings.TrimSpace(h.Get(s.sigHeader))
	if given == "" {
		return "missing signature"
	}
	switch s.name {
	case "github":
		hexSig, ok := strings.CutPrefix(given, "sha256=")
		if !ok || !w.macMatches(hexSig, body) {
			return "signature mismatch"
		}
	case "gitea", "forgejo":
		if !w.macMatches(given, body) {
			return "signature mismatch"
		}
	case "gitlab":
		sum := sha256.Sum256([]byte(given))
		if subtle.ConstantTimeCompare(sum[:], w.tokenSum[:]) != 1 {
			return "token mismatch"
		}
	case "generic":
		return w.verifyGeneric(given, body)
	}
	return ""
}

// macMatches compares a hex HMAC-SHA256 of parts with the one given.
func (w *webhook) macMatches(hexSig string, parts ...[]byte) bool {
	given, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, w.secret)
	for _, p := range parts {
		m.Write(p)
	}
	return hmac.Equal(m.Sum(nil), given)
}

func (w *webhook) verifyGeneric(header string, body []byte) string {
	var ts string
	var sigs []string
	for _, item := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(item), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return "malformed signature header"
	}
	ok := false
	for _, sig := range sigs {
		ok = w.macMatches(sig, []byte(ts), []byte("."), body) || ok
	}
	if !ok {
		return "signature mismatch"
	}
	if age := w.now().Sub(time.Unix(sec, 0)); age > webhookTolerance || age < -webhookTolerance {
		return "timestamp outside the 5-minute tolerance"
	}
	return ""
}

// headerValue reads a header for the log, clipped.
func headerValue(h http.Header, name string) string {
	if name == "" {
		return ""
	}
	return clip(h.Get(name))
}

// clip bounds a sender-chosen string before it is logged.
func clip(s string) string {
	const max = 128
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
