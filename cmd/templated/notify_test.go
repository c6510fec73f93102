package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"templated/internal/notify"
)

const (
	notifyHookKey  = "notify-test-hook-key-0123456789"
	notifySlackTok = "/services/T0TEST/B0TEST/slackSECRETtoken0123"
)

// notifyFixture writes a desired file with notifications (a webhook, a
// Slack sink and an ntfy topic where nothing listens) next to a link to
// the repository's packer/, and an env file with the webhook's key.
func notifyFixture(t *testing.T, hook, slack string, envMode os.FileMode) (desired, envFile, creds string) {
	t.Helper()
	dir := t.TempDir()
	packer, err := filepath.Abs("../../packer")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(packer, filepath.Join(dir, "packer")); err != nil {
		t.Fatal(err)
	}
	desired = filepath.Join(dir, "desired", "templates.yaml")
	body := `version: 1
vmids: {templates: 9000-9099, staging: 9900-9909, previous: 9950-9959}
templates:
  - {name: tpl-ubuntu-22.04, vmid: 9000, os: ubuntu, os_version: "22.04", release: 1.0.0, packer: linux/ubuntu, var_file: linux/ubuntu/ubuntu-22.04.pkrvars.hcl, node: pve1}
notifications:
  sinks:
    - {name: hook, type: webhook, url: "` + hook + `", hmac_secret: TEMPLATED_NOTIFY_HOOK_KEY}
    - {name: chat, type: slack, url_secret: slack-webhook-url}
    - {name: phone, type: ntfy, url: "http://` + closedAddr(t) + `/topic"}
`
	creds = filepath.Join(dir, "credentials")
	for path, data := range map[string]string{desired: body, filepath.Join(creds, "slack-webhook-url"): slack + "\n"} {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	envFile = filepath.Join(dir, "templated.env")
	if err := os.WriteFile(envFile, []byte("TEMPLATED_NOTIFY_HOOK_KEY="+notifyHookKey+"\n"), envMode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(envFile, envMode); err != nil {
		t.Fatal(err)
	}
	return desired, envFile, creds
}

// catcher records the requests a loopback server gets.
type catcher struct {
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (c *catcher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs, c.body = append(c.reqs, r), append(c.body, b)
}

func TestNotifyTest(t *testing.T) {
	c := &catcher{}
	srv := httptest.NewServer(c)
	defer srv.Close()
	desired, envFile, creds := notifyFixture(t, srv.URL+"/hook", srv.URL+notifySlackTok, 0o600)
	getenv := map[string]string{"CREDENTIALS_DIRECTORY": creds}
	state := t.TempDir()
	args := []string{"notify", "test", "-f", desired, "-env-file", envFile, "-state-dir", state}

	out, errs, code := runInProcess(t, getenv, args...)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (the ntfy topic refuses):\n%s%s", code, out, errs)
	}
	for _, want := range []string{"ok    hook (webhook): delivered event ", "ok    chat (slack): delivered event ", "FAIL  phone (ntfy): deliver to phone: ",
		"connection refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errs, "1 of 3 sinks failed") {
		t.Errorf("stderr: %s", errs)
	}
	for _, secret := range []string{notifyHookKey, "slackSECRETtoken0123", "T0TEST"} {
		if strings.Contains(out+errs, secret) {
			t.Errorf("output holds %q", secret)
		}
	}
	c.mu.Lock()
	if len(c.reqs) != 2 || c.reqs[0].URL.Path != "/hook" || c.reqs[1].URL.Path != notifySlackTok {
		t.Fatalf("requests %v", c.reqs)
	}
	if err := notify.Verify([]byte(notifyHookKey), c.reqs[0].Header, c.body[0], time.Now(), time.Minute); err != nil ||
		c.reqs[0].Header.Get(notify.HeaderEvent) != "test" {
		t.Errorf("webhook: %v %v", err, c.reqs[0].Header)
	}
	c.mu.Unlock()

	out, errs, code = runInProcess(t, getenv, append(args, "hook")...)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "ok    hook (webhook)") {
		t.Errorf("notify test hook: exit %d\n%s%s", code, out, errs)
	}
	_, errs, code = runInProcess(t, getenv, append(args, "pager")...)
	if code != 2 || !strings.Contains(errs, `declares no sink "pager" (sinks: hook, chat, phone)`) {
		t.Errorf("notify test pager: exit %d %s", code, errs)
	}
	_, errs, code = runInProcess(t, nil, append(args, "chat")...)
	if code != 1 || !strings.Contains(errs, "notification sink chat: url_secret: secret slack-webhook-url: not set") {
		t.Errorf("without the credential: exit %d %s", code, errs)
	}
}

func TestNotifyTestRefusesOpenEnvFile(t *testing.T) {
	desired, envFile, creds := notifyFixture(t, "http://"+closedAddr(t)+"/hook", "http://"+closedAddr(t)+"/s", 0o644)
	_, errs, code := runInProcess(t, map[string]string{"CREDENTIALS_DIRECTORY": creds},
		"notify", "test", "-f", desired, "-env-file", envFile, "-state-dir", t.TempDir())
	if code != 1 || !strings.Contains(errs, "(mode 0644) holds the notification secrets TEMPLATED_NOTIFY_HOOK_KEY but group or others can open it") ||
		strings.Contains(errs, notifyHookKey) {
		t.Errorf("exit %d: %s", code, errs)
	}
}

func TestNotifyTestWithoutNotifications(t *testing.T) {
	desired, _, _ := notifyFixture(t, "http://127.0.0.1:1/hook", "http://127.0.0.1:1/s", 0o600)
	data, err := os.ReadFile(desired)
	if err != nil {
		t.Fatal(err)
	}
	before, _, _ := strings.Cut(string(data), "notifications:")
	if err := os.WriteFile(desired, []byte(before), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs, code := runInProcess(t, nil, "notify", "test", "-f", desired, "-state-dir", t.TempDir())
	if code != 1 || !strings.Contains(errs, "has no notifications section") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if _, _, code := runInProcess(t, nil, "notify"); code != 2 {
		t.Errorf("notify without a subcommand: exit %d", code)
	}
}
