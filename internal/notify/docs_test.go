package notify

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"templated/internal/state"
)

// TestDocumentedShellVerification runs docs/notifications.md's shell
// snippet against a real delivery, and against a tampered body.
func TestDocumentedShellVerification(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl here")
	}
	doc, err := os.ReadFile("../../docs/notifications.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```sh\n# verify-signature\n")
	script, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/notifications.md has no verify-signature block")
	}
	r := newReceiver(t)
	h := newHarness(t, webhookOnly(r.url("/hook")), testSecrets(nil), nil)
	h.notify(failed("tpl-a", "b1"))
	h.flush()
	got := r.got()[0]
	run := func(body []byte) (string, error) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "body.json"), body, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("sh", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TS="+got.Header.Get(HeaderTimestamp), "SIG="+got.Header.Get(HeaderSignature), "KEY="+hookKey)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(got.Body); err != nil || out != "signature ok\n" {
		t.Errorf("the delivery: %v %q", err, out)
	}
	if out, err := run(append(got.Body, '\n')); err == nil || out != "BAD signature\n" {
		t.Errorf("a tampered body: %v %q", err, out)
	}
}

// TestRunbookLinksExist: every page and section events link to is in
// docs/.
func TestRunbookLinksExist(t *testing.T) {
	for kind, page := range runbooks {
		file, anchor, _ := strings.Cut(page, "#")
		doc, err := os.ReadFile(filepath.Join("../../docs", file))
		if err != nil {
			t.Errorf("%s: %v", kind, err)
			continue
		}
		if anchor == "" {
			continue
		}
		found := false
		for line := range strings.SplitSeq(string(doc), "\n") {
			if title, ok := strings.CutPrefix(line, "## "); ok && strings.ReplaceAll(strings.ToLower(title), " ", "-") == anchor {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: docs/%s has no section #%s", kind, file, anchor)
		}
	}
}

// TestDocumentedConfigParses: the notifications examples of
// docs/notifications.md and desired/README.md are valid desired files.
func TestDocumentedConfigParses(t *testing.T) {
	head := "version: 1\nvmids: {templates: 9000-9099, staging: 9900-9909, previous: 9950-9959}\ntemplates: []\n"
	for _, file := range []string{"../../docs/notifications.md", "../../desired/README.md"} {
		doc, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, block := range strings.Split(string(doc), "```yaml\n")[1:] {
			block, _, _ = strings.Cut(block, "```")
			if !strings.HasPrefix(block, "notifications:") {
				continue
			}
			found = true
			d, err := state.Parse(strings.NewReader(head+block), file, state.ParseOptions{})
			if err != nil {
				t.Errorf("%s: %v", file, err)
			} else if len(d.Notifications.Sinks) != 5 {
				t.Errorf("%s: %d sinks", file, len(d.Notifications.Sinks))
			}
		}
		if !found {
			t.Errorf("%s: no notifications example", file)
		}
	}
}
