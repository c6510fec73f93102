package proxmox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"
	"github.com/sirupsen/logrus"
)

// do runs one proxmox-api-go call under the Client's rules:
//   - a deadline (timeout, on top of ctx's own),
//   - in its own goroutine, so ctx cancellation and the deadline work even
//     while the library sleeps between retries (it ignores ctx then); the
//     result travels over a buffered channel, so an abandoned goroutine
//     writes nothing the caller can still see,
//   - a network failure ends the call at once instead of after the
//     library's 1+2+3 s retry sleeps,
//   - panics of the library become errors,
//   - every error is classified (see classify) and scrubbed of the secret.
func do[T any](ctx context.Context, c *Client, timeout time.Duration, op string, fn func(context.Context) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, c.classify(op, timeout, err, nil)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rec := newCallStats()
	start := time.Now()
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{err: &panicError{value: fmt.Sprint(p)}}
			}
		}()
		v, err := fn(withCallStats(cctx, rec))
		ch <- result{v, err}
	}()
	var v T
	var err error
	select {
	case r := <-ch:
		v, err = r.v, r.err
	case <-cctx.Done():
		err = cctx.Err()
	case <-rec.fatal:
		err = rec.transportError()
	}
	err = c.classify(op, timeout, err, rec)
	rec.mu.Lock()
	n := rec.requests
	rec.mu.Unlock()
	c.log.WithFields(logrus.Fields{"op": op, "requests": n, "bytes": rec.bytes.Load(),
		"duration": time.Since(start).Round(time.Millisecond).String(), "ok": err == nil}).Debug("proxmox call")
	if err != nil {
		return zero, err
	}
	return v, nil
}

type panicError struct{ value string }

func (p *panicError) Error() string { return "client library panicked: " + p.value }

// classify turns whatever the library returned into an *Error whose message
// says what to do. The secret is scrubbed from every message.
func (c *Client) classify(op string, timeout time.Duration, err error, rec *callStats) error {
	if err == nil {
		return nil
	}
	e := c.classifyRaw(op, timeout, err, rec)
	e.Msg = c.scrub(e.Msg)
	return e
}

func (c *Client) classifyRaw(op string, timeout time.Duration, err error, rec *callStats) *Error {
	var na *notAPIError
	if errors.As(err, &na) {
		return &Error{Kind: ErrUnexpected, Err: err, Msg: fmt.Sprintf(
			"%s: %s answered with %s instead of JSON; is PROXMOX_URL the Proxmox API (https://HOST:8006)?", op, c.cfg.URL, na.contentType)}
	}
	if rec != nil {
		if nerr := rec.transportError(); nerr != nil {
			return c.networkError(op, nerr)
		}
	}
	var ae *pxapi.ApiError
	if errors.As(err, &ae) {
		status, _ := strconv.Atoi(ae.Code)
		return c.apiError(op, status, ae)
	}
	var pe *panicError
	switch {
	case errors.As(err, &pe):
		return &Error{Kind: ErrUnexpected, Err: err,
			Msg: fmt.Sprintf("%s: unexpected answer from Proxmox at %s (%s); is PROXMOX_URL a Proxmox VE API?", op, c.cfg.URL, pe.value)}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: ErrTimeout, Err: err,
			Msg: fmt.Sprintf("%s: no answer from Proxmox at %s within the deadline (%s): %v", op, c.cfg.URL, timeout, err)}
	case errors.Is(err, context.Canceled):
		return &Error{Kind: context.Canceled, Err: err, Msg: fmt.Sprintf("%s: canceled", op)}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return c.networkError(op, err)
	}
	return &Error{Kind: ErrUnexpected, Err: err, Msg: fmt.Sprintf("%s: %v", op, err)}
}

func (c *Client) networkError(op string, err error) *Error {
	msg := err.Error()
	if strings.Contains(msg, "server gave HTTP response to HTTPS client") {
		return &Error{Kind: ErrTLS, Err: err, Msg: fmt.Sprintf(
			"%s: %s speaks plain HTTP, not HTTPS; fix the scheme in PROXMOX_URL", op, c.cfg.URL)}
	}
	if isTLSError(err) {
		return &Error{Kind: ErrTLS, Err: err, Msg: fmt.Sprintf(
			"%s: TLS verification of %s failed: %v; set PROXMOX_CA_FILE to the cluster's CA certificate (e.g. /etc/pve/pve-root-ca.pem from a node)",
			op, c.cfg.URL, trimURLPrefix(msg))}
	}
	return &Error{Kind: ErrUnreachable, Err: err, Msg: fmt.Sprintf(
		"%s: cannot reach Proxmox at %s: %s; check PROXMOX_URL and the network", op, c.cfg.URL, trimURLPrefix(msg))}
}

// trimURLPrefix drops Go's `Get "https://…/api2/json/…": ` prefix: the
// URL is already in the message.
func trimURLPrefix(msg string) string {
	if i := strings.Index(msg, `": `); i >= 0 && strings.Contains(msg[:i], "://") {
		return msg[i+3:]
	}
	return msg
}

func isTLSError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "x509:") || strings.Contains(s, "tls:") || strings.Contains(s, "certificate")
}

func (c *Client) apiError(op string, status int, ae *pxapi.ApiError) *Error {
	msg := strings.TrimSpace(ae.Message)
	if len(ae.Errors) > 0 {
		var parts []string
		for k, v := range ae.Errors {
			parts = append(parts, fmt.Sprintf("%s: %v", k, v))
		}
		msg += " (" + strings.Join(parts, "; ") + ")"
	}
	kind := kindForMessage(status, msg)
	return &Error{Kind: kind, Status: status, Err: ae,
		Msg: fmt.Sprintf("%s: %s", op, c.explain(kind, fmt.Sprintf("Proxmox answered %d", status), msg))}
}

// explain words a PVE error message (what) with what to do about it.
func (c *Client) explain(kind error, answered, msg string) string {
	switch kind {
	case ErrAuth:
		return fmt.Sprintf("authentication failed: token wrong or revoked (%s %s); check PROXMOX_TOKEN_ID (%s) and PROXMOX_TOKEN_SECRET",
			answered, msg, c.cfg.TokenID)
	case ErrPermission:
		return fmt.Sprintf("permission denied: %s; grant token %s the privilege on that path (pveum acl modify), and check privilege separation of the token",
			msg, c.cfg.TokenID)
	case ErrLocked:
		return fmt.Sprintf("%s: %s; wait for the operation holding the lock to finish, or unlock it on the node (qm unlock VMID) if it is stale", answered, msg)
	}
	s := fmt.Sprintf("%s: %s", answered, msg)
	switch {
	case strings.HasPrefix(answered, "Proxmox answered 59"):
		s += "; the API proxy could not reach the node, retry later"
	case strings.Contains(msg, "HTTP request to an HTTPS server"):
		s += "; use https:// in PROXMOX_URL"
	case strings.Contains(msg, "hostname lookup"):
		s += "; is the node name right? check PROXMOX_NODE"
	}
	return s
}

func (c *Client) scrub(s string) string { return c.secrets.String(s) }
