package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The generic webhook's headers (docs/notifications.md).
const (
	HeaderEvent     = "X-Templated-Event"     // the event's kind
	HeaderDelivery  = "X-Templated-Delivery"  // the event's id: the same on every retry
	HeaderTimestamp = "X-Templated-Timestamp" // unix seconds of this attempt
	HeaderSignature = "X-Templated-Signature" // sha256=<hex HMAC-SHA256(key, timestamp "." body)>
)

// webhook renders e as its JSON form, signed.
func (s *httpSink) webhook(e Event) (request, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return request{}, err
	}
	ts := strconv.FormatInt(s.opts.Now().Unix(), 10)
	h := http.Header{}
	h.Set(HeaderEvent, e.Kind)
	h.Set(HeaderDelivery, e.ID)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, "sha256="+Sign(s.key, ts, body))
	return request{body: body, contentType: "application/json", header: h}, nil
}

// Sign returns the hex HMAC-SHA256 under key of timestamp, ".", body: the
// generic webhook's signature.
func Sign(key []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verification failures.
var (
	ErrBadSignature = errors.New("signature does not match")
	ErrStale        = errors.New("timestamp too far from now")
)

// Verify checks a delivery as a receiver does: the signature header over
// the timestamp header and the body, and a timestamp within tolerance of
// now (replays of old deliveries are refused).
func Verify(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("missing or malformed " + HeaderTimestamp)
	}
	given, ok := strings.CutPrefix(h.Get(HeaderSignature), "sha256=")
	if !ok {
		return errors.New("missing or malformed " + HeaderSignature)
	}
	sig, err := hex.DecodeString(given)
	if err != nil {
		return ErrBadSignature
	}
	want, _ := hex.DecodeString(Sign(key, ts, body))
	if !hmac.Equal(sig, want) {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(secs, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}
