package state

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNotificationsModel(t *testing.T) {
	d, err := loadFile(t, "testdata/good/notifications.yaml", testPackerRoot)
	if err != nil {
		t.Fatal(err)
	}
	n := d.Notifications
	if n == nil {
		t.Fatal("no notifications")
	}
	if n.RepeatInterval != 2*time.Hour || n.GiveUpAfter != 2*Day || n.Line != 7 {
		t.Errorf("repeat %s, give up %s, line %d", n.RepeatInterval, n.GiveUpAfter, n.Line)
	}
	if n.StatusURL != "https://templated.example.org/" || n.RunbookURL != "https://git.example.org/infra/templated/src/branch/main/docs/" {
		t.Errorf("links %q %q", n.StatusURL, n.RunbookURL)
	}
	want := []NotifySink{
		{Name: "ops-hook", Type: SinkWebhook, URL: "https://hooks.example.org/templated", HMACSecret: "TEMPLATED_NOTIFY_HOOK_KEY", Line: 12},
		{Name: "ops-slack", Type: SinkSlack, URLSecret: "SLACK_OPS_URL", Line: 16},
		{Name: "teams", Type: SinkTeams, URLSecret: "teams-workflow-url", Line: 19},
		{Name: "phone", Type: SinkNtfy, URL: "https://ntfy.example.org/templated-ops", TokenSecret: "NTFY_TOKEN", Line: 22},
		{Name: "gotify", Type: SinkGotify, URL: "https://gotify.example.org", TokenSecret: "GOTIFY_APP_TOKEN", Line: 26},
	}
	if !reflect.DeepEqual(n.Sinks, want) {
		t.Errorf("sinks\n got %+v\nwant %+v", n.Sinks, want)
	}
	if len(n.Routes) != 5 {
		t.Fatalf("routes %+v", n.Routes)
	}
	if r := n.Routes[1]; r.Sink != "ops-slack" || r.Events != nil || r.Templates != nil {
		t.Errorf("route 1 %+v", r)
	}
	if r := n.Routes[4]; r.Sink != "gotify" || !reflect.DeepEqual(r.Events, []string{NotifyBuildFailed}) ||
		!reflect.DeepEqual(r.Templates, []string{"tpl-rocky-9", "tpl-ubuntu-2?.04"}) || r.Line != 38 {
		t.Errorf("route 4 %+v", r)
	}
	if s, ok := n.Sink("phone"); !ok || s.Type != SinkNtfy || !reflect.DeepEqual(s.Secrets(), []string{"NTFY_TOKEN"}) {
		t.Errorf("Sink(phone) = %+v, %v", s, ok)
	}
	if _, ok := n.Sink("nope"); ok {
		t.Error("Sink(nope) found")
	}
}

func TestNotificationsDefaults(t *testing.T) {
	d, err := loadFile(t, "testdata/good/notifications-default-routes.yaml", testPackerRoot)
	if err != nil {
		t.Fatal(err)
	}
	n := d.Notifications
	if n.RepeatInterval != DefaultRepeatInterval || n.GiveUpAfter != DefaultGiveUpAfter {
		t.Errorf("defaults: %s %s", n.RepeatInterval, n.GiveUpAfter)
	}
	want := []NotifyRoute{{Sink: "hook"}, {Sink: "topic"}}
	if !reflect.DeepEqual(n.Routes, want) {
		t.Errorf("routes %+v, want one per sink", n.Routes)
	}
	if got := n.Sinks[0].Secrets(); !reflect.DeepEqual(got, []string{"HOOK_URL", "HOOK_KEY"}) {
		t.Errorf("secrets %v", got)
	}
	d, err = loadFile(t, "testdata/good/minimal.yaml", testPackerRoot)
	if err != nil || d.Notifications != nil {
		t.Errorf("a file without notifications: %+v, %v", d.Notifications, err)
	}
}

func TestRouteTakes(t *testing.T) {
	all := NotifyRoute{Sink: "x"}
	win := NotifyRoute{Sink: "x", Events: []string{NotifyBuildFailed, NotifyLedgerFailed}, Templates: []string{"tpl-win*"}}
	for _, tc := range []struct {
		r              NotifyRoute
		kind, template string
		want           bool
	}{
		{all, NotifyBuildFailed, "tpl-a", true},
		{all, NotifyBuildSucceeded, "tpl-a", false}, // opt-in
		{all, NotifyDoctorFailed, "", true},
		{win, NotifyBuildFailed, "tpl-win2022", true},
		{win, NotifyBuildFailed, "tpl-ubuntu", false},
		{win, NotifyStale, "tpl-win2022", false},
		{win, NotifyLedgerFailed, "", true}, // names no template: passes the templates
		{NotifyRoute{Events: []string{NotifyBuildSucceeded}}, NotifyBuildSucceeded, "t", true},
	} {
		if got := tc.r.Takes(tc.kind, tc.template); got != tc.want {
			t.Errorf("%+v.Takes(%s, %q) = %v, want %v", tc.r, tc.kind, tc.template, got, tc.want)
		}
	}
	if DefaultRouteEvents[0] != NotifyBuildFailed || len(DefaultRouteEvents) != len(NotifyEvents)-1 {
		t.Errorf("DefaultRouteEvents %v", DefaultRouteEvents)
	}
}

// TestNotificationsNeverQuoteSecrets: whatever a file writes in url or
// in a secret's name, the errors name the line and the field and never
// repeat the value.
func TestNotificationsNeverQuoteSecrets(t *testing.T) {
	file := "testdata/bad/notify-credentials.yaml"
	_, err := loadFile(t, file, testPackerRoot)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("got %v", err)
	}
	for _, secret := range []string{"hunter2hunter2", "XXXXXXXXXXXX", "YYYYYYYYYYYY", "SECRETSIG", "AppTokenAppToken", "pa55w0rd",
		"s3cr3t", "QmVhcmVy", "hooks.slack.com/services"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the errors quote %q:\n%s", secret, err)
		}
	}
	data, _ := os.ReadFile(file)
	lines := strings.Split(string(data), "\n")
	for _, p := range verr.Problems {
		if !strings.HasPrefix(p.Field, "notifications.") {
			t.Errorf("problem without its field: %s", p)
		}
		key := p.Field[strings.LastIndexByte(p.Field, '.')+1:]
		if line := lines[p.Line-1]; !strings.Contains(line, key+":") {
			t.Errorf("%s: line %d is %q, not the key %s", p, p.Line, line, key)
		}
		if strings.HasSuffix(p.Field, ".url") && !strings.Contains(p.Msg, "url_secret") {
			t.Errorf("%s: does not say to use url_secret", p)
		}
	}
}

func TestCheckNotifyURL(t *testing.T) {
	for _, tc := range []struct{ url, err string }{
		{"https://hooks.example.org/templated", ""},
		{"http://127.0.0.1:8080/topic?priority=high", ""},
		{"https://ntfy.sh/my-topic", ""},
		{"https://monkey.example.org/?monkey=1", ""},
		{"hooks.example.org/x", "must be an http:// or https:// URL"},
		{"mailto:ops@example.org", "must be an http:// or https:// URL"},
		{"https:///path", "has no host"},
		{"https://h.example.org:99999/", "bad port"},
		{"https://h.example.org/a b", "whitespace"},
		{"https://u:p@h.example.org/", "holds credentials"},
		{"https://h.example.org/?access_token=x", "(access_token=)"},
		{"https://h.example.org/?X-Api-Key=x", "(X-Api-Key=)"},
		{"https://h.example.org/?webhookSecret=x", "(webhookSecret=)"},
		{"https://gotify.example.org/message?token=x", "(token=)"},
		{"https://hooks.slack.com/services/T/B/X", "incoming-webhook address of hooks.slack.com"},
		{"https://acme.webhook.office.com/webhookb2/x", "incoming-webhook address of webhook.office.com"},
		{"https://discord.com/api/webhooks/1/x", "incoming-webhook address of discord.com"},
	} {
		err := checkNotifyURL(tc.url, "")
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.url, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: got %v, want %q", tc.url, err, tc.err)
		}
	}
}
