package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"templated/internal/redact"
	"templated/internal/state"
)

// Sink delivers events to one place.
type Sink interface {
	Name() string
	// Send delivers e once. Its error is a *DeliveryError unless ctx
	// ended; it never holds the sink's URL or secrets.
	Send(ctx context.Context, e Event) error
}

// DefaultTimeout bounds one delivery attempt.
const DefaultTimeout = 10 * time.Second

// SinkOptions tune the sinks NewSinks builds.
type SinkOptions struct {
	// Client sends the requests (nil: a client with Timeout that follows
	// no redirect).
	Client *http.Client
	// Timeout bounds one attempt when Client is nil (default
	// DefaultTimeout).
	Timeout time.Duration
	// UserAgent names templated and its version ("templated").
	UserAgent string
	// Now stamps the webhook signature (nil: time.Now).
	Now func() time.Time
	// Redact receives every secret value the sinks use, so that the
	// caller's logs are scrubbed of them too (nil: a private set).
	Redact *redact.Secrets
}

func (o SinkOptions) withDefaults() SinkOptions {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.UserAgent == "" {
		o.UserAgent = "templated"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Redact == nil {
		o.Redact = &redact.Secrets{}
	}
	return o
}

// NewSinks builds the sinks n declares, in its order, resolving their
// secrets. Its error lists every sink whose secret is missing or
// unusable, naming the sink and the secret, never a value.
func NewSinks(n *state.Notifications, secrets Secrets, opts SinkOptions) ([]Sink, error) {
	if n == nil {
		return nil, nil
	}
	opts = opts.withDefaults()
	var sinks []Sink
	var errs []error
	for _, cfg := range n.Sinks {
		s, err := newSink(cfg, secrets, opts)
		if err != nil {
			errs = append(errs, fmt.Errorf("notification sink %s: %w", cfg.Name, err))
			continue
		}
		sinks = append(sinks, s)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return sinks, nil
}

// newSink resolves cfg's secrets and builds its sink.
func newSink(cfg state.NotifySink, secrets Secrets, opts SinkOptions) (Sink, error) {
	lookup := func(key, name string) (string, error) {
		if name == "" {
			return "", nil
		}
		v, err := secrets.Lookup(name)
		if err != nil {
			return "", fmt.Errorf("%s: %w", key, err)
		}
		if err := opts.Redact.Add(name, v); err != nil {
			return "", fmt.Errorf("%s: %w", key, err)
		}
		return v, nil
	}
	var vals [3]string
	for i, ref := range [...]struct{ key, name string }{{"url_secret", cfg.URLSecret}, {"hmac_secret", cfg.HMACSecret}, {"token_secret", cfg.TokenSecret}} {
		v, err := lookup(ref.key, ref.name)
		if err != nil {
			return nil, err
		}
		vals[i] = v
	}
	rawURL := cfg.URL
	if cfg.URLSecret != "" {
		rawURL = vals[0]
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		what := "url"
		if cfg.URLSecret != "" {
			what = "url_secret: secret " + cfg.URLSecret
		}
		return nil, fmt.Errorf("%s is not an http:// or https:// URL", what)
	}
	if cfg.URLSecret != "" {
		redactURLParts(opts.Redact, cfg.URLSecret, u)
	}
	s := &httpSink{name: cfg.Name, typ: cfg.Type, url: u, token: vals[2], key: []byte(vals[1]), opts: opts}
	switch cfg.Type {
	case state.SinkWebhook:
		s.render = s.webhook
	case state.SinkSlack:
		s.render = slack
	case state.SinkTeams:
		s.render = teams
	case state.SinkNtfy:
		s.render = s.ntfy
	case state.SinkGotify:
		s.url = u.JoinPath("message")
		s.render = s.gotify
	default:
		return nil, fmt.Errorf("unknown type %q", clipWord(cfg.Type))
	}
	return s, nil
}

// request is what a format makes of an event.
type request struct {
	body        []byte
	contentType string
	header      http.Header
}

// httpSink posts a rendering of each event to its URL.
type httpSink struct {
	name, typ string
	url       *url.URL // may be a secret
	token     string   // ntfy's bearer token, gotify's application token
	key       []byte   // the webhook's HMAC key
	opts      SinkOptions
	render    func(e Event) (request, error)
}

func (s *httpSink) Name() string { return s.name }

// Send implements Sink.
func (s *httpSink) Send(ctx context.Context, e Event) error {
	r, err := s.render(e)
	if err != nil {
		return &DeliveryError{Sink: s.name, Permanent: true, Detail: "render: " + err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url.String(), bytes.NewReader(r.body))
	if err != nil {
		return &DeliveryError{Sink: s.name, Permanent: true, Detail: "cannot make a request to its URL"}
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", r.contentType)
	req.Header.Set("User-Agent", s.opts.UserAgent)
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &DeliveryError{Sink: s.name, Detail: s.clean(networkError(err))}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	de := &DeliveryError{Sink: s.name, Status: resp.StatusCode, Detail: s.clean(string(snippet))}
	switch code := resp.StatusCode; {
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		de.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), s.opts.Now())
	case code >= 300 && code < 400:
		de.Permanent, de.Detail = true, "redirected; configure the address it redirects to"
	default:
		de.Permanent = true
	}
	return de
}

// redactURLParts adds to r the parts of a secret URL that travel apart
// from it: its path and query, each query value, and each path segment
// that looks like a token rather than a word ("services", "workflows"
// would only make noise).
func redactURLParts(r *redact.Secrets, name string, u *url.URL) {
	parts := []string{u.EscapedPath(), u.Path, u.RawQuery}
	for _, vs := range u.Query() {
		parts = append(parts, vs...)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 20 || strings.ContainsAny(seg, "0123456789") {
			parts = append(parts, seg)
		}
	}
	for _, p := range parts {
		if len(p) >= redact.MinSecretLen {
			_ = r.Add(name, p) // long enough: never refused
		}
	}
}

// clean makes a text fit for an error: the secrets replaced, one line,
// bounded.
func (s *httpSink) clean(text string) string {
	return redact.Bound(oneLine(s.opts.Redact.String(text)), 300)
}

// networkError is err without the request's URL, which *url.Error quotes.
func networkError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), 0
// when absent or unreadable; it is capped at maxRetryAfter.
func retryAfter(v string, now time.Time) time.Duration {
	var d time.Duration
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs > 0 {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// maxRetryAfter caps how long a receiver may ask to be left alone.
const maxRetryAfter = time.Hour

// DeliveryError is a failed attempt. It names the sink and the HTTP
// status; Detail is the network error or the start of the response, with
// the sink's URL and secrets removed.
type DeliveryError struct {
	Sink   string
	Status int // 0: no response
	// Permanent says retrying cannot help (a 4xx other than 408 and 429,
	// a redirect); RetryAfter is how long the receiver asked to wait.
	Permanent  bool
	RetryAfter time.Duration
	Detail     string
}

func (e *DeliveryError) Error() string {
	msg := "deliver to " + e.Sink
	if e.Status != 0 {
		msg += fmt.Sprintf(": HTTP %d", e.Status)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}
