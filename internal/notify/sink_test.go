package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"templated/internal/state"
)

// TestWebhookSignature: a failed build gives one delivery whose signature
// verifies with the documented scheme, hex(HMAC-SHA256(key, timestamp
// "." body)), computed here without Sign.
func TestWebhookSignature(t *testing.T) {
	r := newReceiver(t)
	h := newHarness(t, webhookOnly(r.url("/hook")), testSecrets(nil), nil)
	h.notify(failed("tpl-a", "b1"))
	h.flush()
	hits := r.got()
	if len(hits) != 1 {
		t.Fatalf("%d deliveries, want 1", len(hits))
	}
	got := hits[0]
	ts := got.Header.Get(HeaderTimestamp)
	if ts != "1777636800" { // the clock's time in unix seconds
		t.Errorf("timestamp %q", ts)
	}
	m := hmac.New(sha256.New, []byte(hookKey))
	m.Write([]byte(ts + "." + string(got.Body)))
	if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); got.Header.Get(HeaderSignature) != want {
		t.Errorf("signature %q, want %q", got.Header.Get(HeaderSignature), want)
	}
	if err := Verify([]byte(hookKey), got.Header, got.Body, h.clock.Now(), 5*time.Minute); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := Verify([]byte("another key entirely"), got.Header, got.Body, h.clock.Now(), 5*time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify with another key: %v", err)
	}
	if err := Verify([]byte(hookKey), got.Header, append(got.Body, ' '), h.clock.Now(), 5*time.Minute); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify of a changed body: %v", err)
	}
	if err := Verify([]byte(hookKey), got.Header, got.Body, h.clock.Now().Add(time.Hour), 5*time.Minute); !errors.Is(err, ErrStale) {
		t.Errorf("Verify an hour later: %v", err)
	}
	var e map[string]any
	if err := json.Unmarshal(got.Body, &e); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"schema": Schema, "kind": "build.failed", "severity": "warning", "installation": "test-install",
		"template": "tpl-a", "build_id": "b1", "release": "1.0.0", "reason": "build-failed", "message": "packer exited with status 1",
		"time": "2026-05-01T12:00:00Z"} {
		if e[k] != want {
			t.Errorf("body %s = %v, want %v", k, e[k], want)
		}
	}
	if e["id"] != got.Header.Get(HeaderDelivery) || len(e["id"].(string)) != 32 || got.Header.Get(HeaderEvent) != "build.failed" {
		t.Errorf("id %v, headers %v", e["id"], got.Header)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
}

// formats is a configuration with one sink of each chat and push type on
// r, each with its own path.
func formats(r *receiver) (*state.Notifications, SecretMap) {
	n := &state.Notifications{
		Sinks: []state.NotifySink{
			{Name: "slack", Type: state.SinkSlack, URLSecret: "SLACK_URL"},
			{Name: "teams", Type: state.SinkTeams, URLSecret: "TEAMS_URL"},
			{Name: "ntfy", Type: state.SinkNtfy, URL: r.url("/ntfy/templated"), TokenSecret: "NTFY_TOKEN"},
			{Name: "gotify", Type: state.SinkGotify, URL: r.url("/gotify/"), TokenSecret: "GOTIFY_TOKEN"},
		},
		StatusURL: "https://status.example.org/", RunbookURL: "https://docs.example.org/templated/docs",
	}
	for _, s := range n.Sinks {
		n.Routes = append(n.Routes, state.NotifyRoute{Sink: s.Name})
	}
	return n, testSecrets(map[string]string{"SLACK_URL": r.url(slackPath), "TEAMS_URL": r.url("/workflows/x/invoke?sig=teamsSIGsecret123")})
}

func byPath(hits []hit) map[string]hit {
	m := map[string]hit{}
	for _, h := range hits {
		m[strings.SplitN(strings.TrimPrefix(h.Path, "/"), "/", 2)[0]] = h
	}
	return m
}

func TestSinkFormats(t *testing.T) {
	r := newReceiver(t)
	n, sec := formats(r)
	h := newHarness(t, n, sec, nil)
	e := failed("tpl-win2022", "b7")
	e.Message = "packer: <timeout> & gave up"
	e.Nodes = []string{"pve1"}
	e.Evidence = "tpl-win2022/b7"
	h.notify(e)
	h.flush()
	hits := byPath(r.got())
	if len(hits) != 4 {
		t.Fatalf("got %d sinks' deliveries: %v", len(hits), hits)
	}

	var slack struct{ Text string }
	if err := json.Unmarshal(hits["services"].Body, &slack); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{":warning: *Build failed: tpl-win2022* (warning)", "packer: &lt;timeout&gt; &amp; gave up", "*Release:* 1.0.0",
		"*Build:* b7", "*Nodes:* pve1", "*Evidence:* tpl-win2022/b7",
		"<https://docs.example.org/templated/docs/runbook-build-failure.md|Runbook> · <https://status.example.org/|Status page>"} {
		if !strings.Contains(slack.Text, want) {
			t.Errorf("slack text lacks %q:\n%s", want, slack.Text)
		}
	}

	var teams struct {
		Type        string
		Attachments []struct {
			ContentType string
			Content     struct {
				Type, Version string
				Body          []struct {
					Type, Text, Color string
					Facts             []struct{ Title, Value string }
				}
				Actions []struct{ Type, Title, URL string }
			}
		}
	}
	if err := json.Unmarshal(hits["workflows"].Body, &teams); err != nil {
		t.Fatal(err)
	}
	if teams.Type != "message" || len(teams.Attachments) != 1 || teams.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("teams message %+v", teams)
	}
	card := teams.Attachments[0].Content
	if card.Type != "AdaptiveCard" || card.Version != "1.4" || card.Body[0].Text != "Build failed: tpl-win2022" || card.Body[0].Color != "Warning" ||
		card.Body[1].Text != e.Message || card.Body[2].Type != "FactSet" || len(card.Actions) != 2 || card.Actions[0].Type != "Action.OpenUrl" {
		t.Errorf("teams card %+v", card)
	}

	nt := hits["ntfy"]
	if nt.Path != "/ntfy/templated" || nt.Header.Get("Title") != "Build failed: tpl-win2022" || nt.Header.Get("Priority") != "high" ||
		nt.Header.Get("Tags") != "warning,build.failed" || nt.Header.Get("Authorization") != "Bearer "+ntfyToken ||
		nt.Header.Get("Click") != "https://docs.example.org/templated/docs/runbook-build-failure.md" {
		t.Errorf("ntfy headers %v path %s", nt.Header, nt.Path)
	}
	if !strings.HasPrefix(string(nt.Body), e.Message+"\nTemplate: tpl-win2022\n") {
		t.Errorf("ntfy body %q", nt.Body)
	}

	gt := hits["gotify"]
	var gm struct {
		Title, Message string
		Priority       int
		Extras         map[string]map[string]any
	}
	if err := json.Unmarshal(gt.Body, &gm); err != nil {
		t.Fatal(err)
	}
	if gt.Path != "/gotify/message" || gt.Query != "" || gt.Header.Get("X-Gotify-Key") != gotifyToken {
		t.Errorf("gotify request %s?%s %v", gt.Path, gt.Query, gt.Header)
	}
	if gm.Title != "Build failed: tpl-win2022" || gm.Priority != 5 || !strings.Contains(gm.Message, "[Runbook](https://docs.example.org/") ||
		gm.Extras["client::display"]["contentType"] != "text/markdown" {
		t.Errorf("gotify message %+v", gm)
	}
}

// TestSendErrors: statuses are classified (4xx permanent but 408 and
// 429, 5xx and network errors retried, Retry-After read), and no error
// holds the URL or a secret, even when the receiver echoes them.
func TestSendErrors(t *testing.T) {
	r := newReceiver(t)
	n, sec := formats(r)
	sinks, err := NewSinks(n, sec, SinkOptions{Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	slack := sinks[0]
	for _, tc := range []struct {
		code       int
		retryAfter string
		permanent  bool
		wait       time.Duration
	}{
		{http.StatusNotFound, "", true, 0},
		{http.StatusForbidden, "", true, 0},
		{http.StatusFound, "", true, 0},
		{http.StatusRequestTimeout, "", false, 0},
		{http.StatusTooManyRequests, "30", false, 30 * time.Second},
		{http.StatusServiceUnavailable, "Fri, 01 May 2026 12:02:00 GMT", false, 2 * time.Minute},
		{http.StatusBadGateway, "999999", false, time.Hour},
	} {
		r.answer(func(h hit) (int, http.Header, string) {
			hdr := http.Header{"Retry-After": {tc.retryAfter}, "Location": {"http://elsewhere.example/"}}
			return tc.code, hdr, "no such hook: " + h.Path + "?" + h.Query + "\nsecond line"
		})
		err := slack.Send(context.Background(), TestEvent("x", time.Now()))
		var de *DeliveryError
		if !errors.As(err, &de) {
			t.Fatalf("%d: %v", tc.code, err)
		}
		if de.Status != tc.code || de.Permanent != tc.permanent || de.RetryAfter != tc.wait || de.Sink != "slack" {
			t.Errorf("%d: %+v", tc.code, de)
		}
		if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), r.addr) || strings.Contains(err.Error(), "second line") {
			t.Errorf("%d: error holds the URL or more than one line: %v", tc.code, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // nothing listens there now: connections are refused
	n.Sinks[1].URLSecret = "CLOSED_URL"
	sec.Values["CLOSED_URL"] = "http://" + ln.Addr().String() + "/workflows/x/invoke?sig=teamsSIGsecret123"
	sinks, err = NewSinks(n, sec, SinkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = sinks[1].Send(context.Background(), TestEvent("x", time.Now()))
	var de *DeliveryError
	if !errors.As(err, &de) || de.Permanent || de.Status != 0 || !strings.Contains(err.Error(), "connection refused") ||
		strings.Contains(err.Error(), "sig=") || strings.Contains(err.Error(), "workflows") {
		t.Errorf("refused: %#v %v", de, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sinks[2].Send(ctx, TestEvent("x", time.Now())); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestMissingSecrets: every missing secret is named with its sink, and a
// secret too short to redact is refused; no value is quoted.
func TestMissingSecrets(t *testing.T) {
	r := newReceiver(t)
	n, _ := formats(r)
	_, err := NewSinks(n, SecretMap{Values: map[string]string{"TEAMS_URL": "https://x.example/abcdefgh", "NTFY_TOKEN": "short"}}, SinkOptions{})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"notification sink slack: url_secret: secret SLACK_URL: not set", "notification sink ntfy: token_secret: secret NTFY_TOKEN is 5 characters",
		"notification sink gotify: token_secret: secret GOTIFY_TOKEN: not set"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "short") && !strings.Contains(err.Error(), "too short") || strings.Contains(err.Error(), "abcdefgh") || strings.Contains(err.Error(), "teams") {
		t.Errorf("error quotes a value or blames a sink with its secrets: %v", err)
	}
	_, err = NewSinks(n, testSecrets(map[string]string{"SLACK_URL": "not a url at all", "TEAMS_URL": r.url("/t")}), SinkOptions{})
	if err == nil || !strings.Contains(err.Error(), "sink slack: url_secret: secret SLACK_URL is not an http:// or https:// URL") || strings.Contains(err.Error(), "not a url at all") {
		t.Errorf("bad URL secret: %v", err)
	}
}

func TestSecretMap(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/slack-url", []byte(" https://hooks.example/x \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := SecretMap{Values: map[string]string{"A_KEY": "from-values", "EMPTY": " "}, CredentialsDir: dir}
	for name, want := range map[string]string{"A_KEY": "from-values", "slack-url": "https://hooks.example/x"} {
		if got, err := s.Lookup(name); err != nil || got != want {
			t.Errorf("Lookup(%s) = %q, %v", name, got, err)
		}
	}
	for _, name := range []string{"EMPTY", "MISSING"} {
		if _, err := s.Lookup(name); !errors.Is(err, ErrNoSecret) {
			t.Errorf("Lookup(%s): %v", name, err)
		}
	}
	if _, err := s.Lookup("../etc/passwd"); err == nil || errors.Is(err, ErrNoSecret) {
		t.Errorf("Lookup of a path: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{"": 0, "7": 7 * time.Second, "-3": 0, "soon": 0,
		"Fri, 01 May 2026 12:00:30 GMT": 30 * time.Second, "Fri, 01 May 2026 11:00:00 GMT": 0, "86400": time.Hour} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}
