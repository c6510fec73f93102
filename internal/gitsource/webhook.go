package gitsource

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sirupsen/logrus"
)

// WebhookConfig configures the push-webhook receiver.
type WebhookConfig struct {
	// Secret is the shared webhook secret (at least 16 bytes): the HMAC key
	// for GitHub, Gitea, Forgejo and generic deliveries, the token GitLab
	// sends. It never appears in logs or responses.
	Secret []byte
	// Kick asks the source for a fetch. It is called once per accepted
	// push, on the request's goroutine, and must not block.
	Kick func()
	// Follows reports whether a pushed ref ("refs/heads/main") is one the
	// source follows. Nil: every push kicks. A push of a ref it does not
	// follow is acknowledged (202) and ignored.
	Follows func(ref string) bool
	// Log receives one entry per request (nil: discard).
	Log logrus.FieldLogger
	// Now is the clock for generic timestamps (nil: time.Now).
	Now func() time.Time
}

const (
	webhookMaxBody   = 1 << 20         // bytes; larger bodies get 413
	webhookTolerance = 5 * time.Minute // generic timestamps further off get 401
	webhookMinSecret = 16
)

// webhook is the http.Handler NewWebhook returns.
type webhook struct {
	secret   []byte
	tokenSum [sha256.Size]byte // sha256(secret), for GitLab's token
	kick     func()
	follows  func(string) bool
	log      logrus.FieldLogger
	now      func() time.Time
}

// NewWebhook returns the handler that receives push webhooks from GitHub,
// GitLab, Gitea, Forgejo or a generic sender (see webhook_scheme.go for
// the schemes and how they are told apart) and kicks the source on an
// authenticated push of a followed ref.
//
// Answers (short text/plain): 405 for anything but POST; 413 for a body
// over 1 MiB; 401 for a missing or wrong signature or token, or a stale
// generic timestamp; 400 for a push whose body is not a JSON object with a
// string "ref"; 200 for a ping; 202 for an accepted push (Kick called
// once), a push of a ref not followed, or another event (nothing kicked).
//
// A delivery that is replayed (GitHub, GitLab, Gitea and Forgejo sign no
// time; generic within its 5 minutes) only asks for another fetch, which
// is harmless: the source acts on what the remote holds, not on the body.
func NewWebhook(cfg WebhookConfig) (http.Handler, error) {
	if len(cfg.Secret) < webhookMinSecret {
		return nil, fmt.Errorf("webhook secret: %d bytes, want at least %d", len(cfg.Secret), webhookMinSecret)
	}
	if cfg.Kick == nil {
		return nil, errors.New("webhook: Kick is required")
	}
	h := &webhook{
		secret:   bytes.Clone(cfg.Secret),
		tokenSum: sha256.Sum256(cfg.Secret),
		kick:     cfg.Kick,
		follows:  cfg.Follows,
		log:      cfg.Log,
		now:      cfg.Now,
	}
	if h.log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		h.log = l
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d := hookDelivery{remote: r.RemoteAddr}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.reply(w, d, http.StatusMethodNotAllowed, "method not allowed: POST only")
		return
	}
	if r.ContentLength > webhookMaxBody {
		h.reply(w, d, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhookMaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.reply(w, d, http.StatusRequestEntityTooLarge, "body too large")
			return
		}
		h.reply(w, d, http.StatusBadRequest, "could not read body")
		return
	}

	s := detectHookScheme(r.Header)
	d.scheme, d.event, d.id = s.name, s.event(r.Header), headerValue(r.Header, s.deliveryHeader)
	if why := s.verify(h, r.Header, body); why != "" {
		h.reply(w, d, http.StatusUnauthorized, "unauthorized: "+why)
		return
	}
	switch s.kind(d.event) {
	case hookPing:
		h.reply(w, d, http.StatusOK, "pong")
		return
	case hookOther:
		h.reply(w, d, http.StatusAccepted, "event ignored: only pushes ask for a fetch")
		return
	}
	ref, err := pushRef(body)
	if err != nil {
		h.reply(w, d, http.StatusBadRequest, "bad push payload: "+err.Error())
		return
	}
	d.ref = clip(ref)
	if h.follows != nil && !h.follows(ref) {
		h.reply(w, d, http.StatusAccepted, "ref not followed: ignored")
		return
	}
	h.kick()
	h.reply(w, d, http.StatusAccepted, "fetch requested")
}

// hookDelivery is what a request's log entry says about it: never the
// secret, the signature header or the body.
type hookDelivery struct {
	remote, scheme, event, id, ref string
}

func (h *webhook) reply(w http.ResponseWriter, d hookDelivery, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text+"\n")

	fields := logrus.Fields{"status": status, "result": text, "remote": d.remote}
	for k, v := range map[string]string{"scheme": d.scheme, "event": d.event, "delivery": d.id, "ref": d.ref} {
		if v != "" {
			fields[k] = v
		}
	}
	l := h.log.WithFields(fields)
	if status >= 400 {
		l.Warn("webhook refused")
		return
	}
	l.Info("webhook")
}

// pushRef reads the "ref" of a push body, which must be a JSON object.
func pushRef(body []byte) (string, error) {
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return "", errors.New("not a JSON object")
	}
	var p struct {
		Ref *string `json:"ref"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "ref" {
			return "", errors.New(`"ref" is not a string`)
		}
		return "", errors.New("not valid JSON")
	}
	if p.Ref == nil || *p.Ref == "" {
		return "", errors.New(`no "ref"`)
	}
	return *p.Ref, nil
}
