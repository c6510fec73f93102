package gitsource

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

var hookTestSecret = []byte("hook-secret-0123456789abcdef")

// hookRig is a webhook handler with its kicks counted and its log kept.
type hookRig struct {
	h     http.Handler
	kicks atomic.Int32
	logs  bytes.Buffer
	now   time.Time
}

func newHookRig(t testing.TB, follows func(string) bool) *hookRig {
	t.Helper()
	rig := &hookRig{now: time.Unix(1_800_000_000, 0)}
	log := logrus.New()
	log.SetOutput(&rig.logs)
	log.SetFormatter(&logrus.JSONFormatter{})
	log.SetLevel(logrus.DebugLevel)
	h, err := NewWebhook(WebhookConfig{
		Secret:  hookTestSecret,
		Kick:    func() { rig.kicks.Add(1) },
		Follows: follows,
		Log:     log,
		Now:     func() time.Time { return rig.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	rig.h = h
	return rig
}

func (rig *hookRig) send(method string, hdr map[string]string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/hooks/git", bytes.NewReader(body))
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	rig.h.ServeHTTP(w, r)
	return w
}

func hexMAC(secret []byte, parts ...string) string {
	m := hmac.New(sha256.New, secret)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return hex.EncodeToString(m.Sum(nil))
}

func genericSig(secret []byte, t time.Time, body string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hexMAC(secret, ts, ".", body)
}

const hookPushBody = `{"ref":"refs/heads/main","before":"28e1879d","after":"bffeb742","marker":"body-marker-7f3a"}`

// hookDeliveries are valid pushes in each scheme, headers as the hosts send
// them (Forgejo's include the Gitea and GitHub copies).
func hookDeliveries(now time.Time, body string) map[string]map[string]string {
	mac := hexMAC(hookTestSecret, body)
	return map[string]map[string]string{
		"github": {"X-GitHub-Event": "push", "X-GitHub-Delivery": "gh-1", "X-Hub-Signature-256": "sha256=" + mac},
		"gitea":  {"X-Gitea-Event": "push", "X-Gitea-Delivery": "gt-1", "X-Gitea-Signature": mac},
		"forgejo": {"X-Forgejo-Event": "push", "X-Forgejo-Delivery": "fj-1", "X-Forgejo-Signature": mac,
			"X-Gitea-Event": "push", "X-Gitea-Signature": mac, "X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + mac},
		"gitlab":     {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "gl-1", "X-Gitlab-Token": string(hookTestSecret)},
		"gitlab-tag": {"X-Gitlab-Event": "Tag Push Hook", "X-Gitlab-Token": string(hookTestSecret)},
		"generic":    {"X-Templated-Signature": genericSig(hookTestSecret, now.Add(-4*time.Minute), body)},
	}
}

// TestWebhookSchemes: a valid push in every scheme is accepted with 202
// and kicks exactly once, and is logged with its scheme.
func TestWebhookSchemes(t *testing.T) {
	for name, hdr := range hookDeliveries(time.Unix(1_800_000_000, 0), hookPushBody) {
		t.Run(name, func(t *testing.T) {
			rig := newHookRig(t, nil)
			w := rig.send(http.MethodPost, hdr, []byte(hookPushBody))
			if w.Code != http.StatusAccepted || rig.kicks.Load() != 1 {
				t.Fatalf("%d %q, %d kicks; want 202 and 1 kick", w.Code, w.Body, rig.kicks.Load())
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q", ct)
			}
			scheme := strings.TrimSuffix(name, "-tag")
			if !strings.Contains(rig.logs.String(), `"scheme":"`+scheme+`"`) {
				t.Errorf("log does not name scheme %s: %s", scheme, rig.logs.String())
			}
		})
	}
}

// TestWebhookRefusals: every bad request gets its status and kicks nothing.
func TestWebhookRefusals(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := hookPushBody
	wrong := []byte("another-secret-0123456789abcdef")
	gh := func(b string) map[string]string {
		return map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hexMAC(hookTestSecret, b)}
	}
	cases := []struct {
		name   string
		method string
		hdr    map[string]string
		body   string
		status int
	}{
		{"github wrong secret", "POST", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hexMAC(wrong, body)}, body, 401},
		{"github without sha256= prefix", "POST", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": hexMAC(hookTestSecret, body)}, body, 401},
		{"github signature of another body", "POST", gh(body + " "), body, 401},
		{"gitea wrong secret", "POST", map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": hexMAC(wrong, body)}, body, 401},
		{"gitea empty signature", "POST", map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": ""}, body, 401},
		{"forgejo not hex", "POST", map[string]string{"X-Forgejo-Event": "push", "X-Forgejo-Signature": "zz"}, body, 401},
		{"gitlab wrong token", "POST", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": string(wrong)}, body, 401},
		{"gitlab token prefix", "POST", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": string(hookTestSecret[:16])}, body, 401},
		{"generic wrong secret", "POST", map[string]string{"X-Templated-Signature": genericSig(wrong, now, body)}, body, 401},
		{"generic replayed", "POST", map[string]string{"X-Templated-Signature": genericSig(hookTestSecret, now.Add(-6*time.Minute), body)}, body, 401},
		{"generic from the future", "POST", map[string]string{"X-Templated-Signature": genericSig(hookTestSecret, now.Add(6*time.Minute), body)}, body, 401},
		{"generic without t", "POST", map[string]string{"X-Templated-Signature": "v1=" + hexMAC(hookTestSecret, body)}, body, 401},
		{"missing header", "POST", map[string]string{"X-GitHub-Event": "push"}, body, 401},
		{"no headers at all", "POST", nil, body, 401},
		{"malformed JSON", "POST", gh(`{"ref":`), `{"ref":`, 400},
		{"JSON array", "POST", gh(`["refs/heads/main"]`), `["refs/heads/main"]`, 400},
		{"JSON null", "POST", gh(`null`), `null`, 400},
		{"ref not a string", "POST", gh(`{"ref":7}`), `{"ref":7}`, 400},
		{"no ref", "POST", gh(`{"after":"bffeb742"}`), `{"after":"bffeb742"}`, 400},
		{"GET", "GET", gh(body), body, 405},
		{"PUT", "PUT", gh(body), body, 405},
		{"oversize", "POST", gh(body), strings.Repeat(" ", webhookMaxBody) + body, 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rig := newHookRig(t, nil)
			w := rig.send(tc.method, tc.hdr, []byte(tc.body))
			if w.Code != tc.status || rig.kicks.Load() != 0 {
				t.Fatalf("%d %q, %d kicks; want %d and none", w.Code, w.Body, rig.kicks.Load(), tc.status)
			}
			if tc.status == 405 && w.Header().Get("Allow") != "POST" {
				t.Errorf("Allow %q", w.Header().Get("Allow"))
			}
		})
	}
}

// TestWebhookEvents: a signed ping answers 200, another event 202, and
// neither kicks; an unsigned ping is still 401.
func TestWebhookEvents(t *testing.T) {
	ping := `{"zen":"Keep it logically awesome.","hook_id":1}`
	cases := []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"github ping", map[string]string{"X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=" + hexMAC(hookTestSecret, ping)}, 200},
		{"unsigned ping", map[string]string{"X-GitHub-Event": "ping"}, 401},
		{"github issues", map[string]string{"X-GitHub-Event": "issues", "X-Hub-Signature-256": "sha256=" + hexMAC(hookTestSecret, ping)}, 202},
		{"gitlab merge request", map[string]string{"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Token": string(hookTestSecret)}, 202},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rig := newHookRig(t, nil)
			w := rig.send("POST", tc.hdr, []byte(ping))
			if w.Code != tc.status || rig.kicks.Load() != 0 {
				t.Fatalf("%d %q, %d kicks; want %d and none", w.Code, w.Body, rig.kicks.Load(), tc.status)
			}
		})
	}
}

// TestWebhookIgnoredRef: with Follows set, a push of another ref is
// acknowledged without a kick, and a push of the followed ref kicks.
func TestWebhookIgnoredRef(t *testing.T) {
	rig := newHookRig(t, func(ref string) bool { return ref == "refs/heads/main" })
	dev := strings.Replace(hookPushBody, "refs/heads/main", "refs/heads/dev", 1)
	w := rig.send("POST", hookDeliveries(rig.now, dev)["github"], []byte(dev))
	if w.Code != 202 || !strings.Contains(w.Body.String(), "not followed") || rig.kicks.Load() != 0 {
		t.Fatalf("dev push: %d %q, %d kicks", w.Code, w.Body, rig.kicks.Load())
	}
	w = rig.send("POST", hookDeliveries(rig.now, hookPushBody)["github"], []byte(hookPushBody))
	if w.Code != 202 || rig.kicks.Load() != 1 {
		t.Fatalf("main push: %d %q, %d kicks", w.Code, w.Body, rig.kicks.Load())
	}
	if !strings.Contains(rig.logs.String(), `"ref":"refs/heads/dev"`) {
		t.Errorf("ignored ref not logged: %s", rig.logs.String())
	}
}

// TestWebhookSecretNeverLeaks: across good and bad deliveries of every
// scheme, neither the log nor any response holds the secret, a signature
// header value or the body; the log does hold the delivery ids.
func TestWebhookSecretNeverLeaks(t *testing.T) {
	rig := newHookRig(t, nil)
	var responses strings.Builder
	forbidden := []string{string(hookTestSecret), hex.EncodeToString(hookTestSecret), "body-marker-7f3a"}
	for _, hdr := range hookDeliveries(rig.now, hookPushBody) {
		for _, body := range []string{hookPushBody, hookPushBody + "tampered", `{"marker":"body-marker-7f3a"}`} {
			w := rig.send("POST", hdr, []byte(body))
			responses.WriteString(w.Body.String())
		}
		for _, v := range hdr {
			if len(v) > 20 { // the signature and token headers
				forbidden = append(forbidden, v)
			}
		}
	}
	for _, s := range forbidden {
		if strings.Contains(rig.logs.String(), s) || strings.Contains(responses.String(), s) {
			t.Fatalf("%q leaked into the log or a response", s)
		}
	}
	for _, id := range []string{"gh-1", "gt-1", "fj-1", "gl-1"} {
		if !strings.Contains(rig.logs.String(), `"delivery":"`+id+`"`) {
			t.Errorf("delivery %s not logged", id)
		}
	}
	if _, err := NewWebhook(WebhookConfig{Secret: hookTestSecret[:15], Kick: func() {}}); err == nil ||
		strings.Contains(err.Error(), string(hookTestSecret[:15])) {
		t.Errorf("short secret: %v", err)
	}
	if _, err := NewWebhook(WebhookConfig{Secret: hookTestSecret}); err == nil {
		t.Error("nil Kick accepted")
	}
}
