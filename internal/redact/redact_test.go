package redact

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

const secret = "0b7c9c9e-1111-2222-3333-444455556666"

func TestSecretsEveryForm(t *testing.T) {
	var s Secrets
	if err := s.Add("PROXMOX_TOKEN_SECRET", secret); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{
		"token=" + secret,
		"basic " + base64.StdEncoding.EncodeToString([]byte(secret)),
		"q=" + url.QueryEscape(secret + "/x")[:len(url.QueryEscape(secret))],
		base64.RawURLEncoding.EncodeToString([]byte(secret)),
	} {
		got := s.String(text)
		if strings.Contains(got, secret) || s.Contains([]byte(got)) || !strings.Contains(got, "[redacted PROXMOX_TOKEN_SECRET]") {
			t.Errorf("%q → %q", text, got)
		}
		if b := s.Bytes([]byte(text)); s.Contains(b) {
			t.Errorf("Bytes(%q) = %q", text, b)
		}
	}
	if got := s.String("nothing here"); got != "nothing here" {
		t.Errorf("untouched text changed: %q", got)
	}
}

func TestSecretsRefuseShortValues(t *testing.T) {
	var s Secrets
	err := s.Add("PROXMOX_TOKEN_SECRET", "abc")
	if err == nil || strings.Contains(err.Error(), "abc") || !strings.Contains(err.Error(), "PROXMOX_TOKEN_SECRET") {
		t.Fatalf("short secret: %v", err)
	}
	if got := s.String("abcabc"); got != "abcabc" {
		t.Errorf("a refused secret was applied: %q", got)
	}
}

func TestBound(t *testing.T) {
	if got := Bound("short", 10); got != "short" {
		t.Errorf("Bound short = %q", got)
	}
	got := Bound(strings.Repeat("é", 100), 11) // 200 bytes; cut inside a rune
	if !strings.HasPrefix(got, strings.Repeat("é", 5)+"…") || !strings.HasSuffix(got, "(190 more bytes)") {
		t.Errorf("Bound = %q", got)
	}
}

func TestHook(t *testing.T) {
	var s Secrets
	_ = s.Add("", secret)
	var out bytes.Buffer
	log := logrus.New()
	log.SetOutput(&out)
	log.SetFormatter(&logrus.JSONFormatter{})
	log.AddHook(Hook{Secrets: &s})
	shared := log.WithField("url", "https://u:"+secret+"@h")
	shared.WithError(errors.New("401 for " + secret)).Error("call failed with " + secret + strings.Repeat("x", 10<<10))
	if strings.Contains(out.String(), secret) || strings.Count(out.String(), "[redacted]") != 3 {
		t.Errorf("log line: %s", out.String())
	}
	if len(out.String()) > 3*MaxLogValue {
		t.Errorf("log line of %d bytes: not bounded", out.Len())
	}
	if shared.Data["url"] != "https://u:"+secret+"@h" {
		t.Error("the hook changed the shared entry's fields in place")
	}
}

func TestBoundError(t *testing.T) {
	base := errors.New(strings.Repeat("problem\n", 100000))
	err := BoundError(fmt.Errorf("load: %w", base), 1000)
	if len(err.Error()) > 1100 || !errors.Is(err, base) {
		t.Errorf("%d bytes, Is %v", len(err.Error()), errors.Is(err, base))
	}
	short := errors.New("short")
	if BoundError(short, 1000) != short || BoundError(nil, 10) != nil {
		t.Error("short or nil errors must pass unchanged")
	}
}
