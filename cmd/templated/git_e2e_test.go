package main

// Process tests of `templated daemon --git`: the binary follows a branch
// served by a real git server on loopback (fluxcd's gittestserver, which
// runs git's own upload-pack), behind a proxy the test can take down and
// bring back at the same address.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/gittestserver"

	"templated/internal/ledger"
	"templated/internal/pvesim"
)

const (
	gitUser     = "templated"
	gitPassword = "git-pass-5f0c1e9b7a"
	hookSecret  = "hook-secret-2b7d4c9e81f3a6"
	gitRepoPath = "org/templates.git"
)

// gitRemote is a git server on loopback with one repository, reached
// through a proxy at a fixed address.
type gitRemote struct {
	t     testing.TB
	srv   *gittestserver.GitServer
	proxy *switchable // forwards to the git server from an address that stays the same across down and up
	work  string      // a clone people commit in
	home  string
}

func newGitRemote(t testing.TB, files string) *gitRemote {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed (make deps installs it)")
	}
	srv, err := gittestserver.NewTempGitServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(srv.Root()) })
	srv.Auth(gitUser, gitPassword).AutoCreate()
	if err := srv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.StopHTTP)
	target, err := url.Parse(srv.HTTPAddress())
	if err != nil {
		t.Fatal(err)
	}
	g := &gitRemote{t: t, srv: srv, proxy: newSwitchable(t, httputil.NewSingleHostReverseProxy(target)), work: t.TempDir(), home: t.TempDir()}
	if err := os.CopyFS(g.work, os.DirFS(files)); err != nil {
		t.Fatal(err)
	}
	g.git("init", "-q", "-b", "main")
	g.git("add", "-A")
	g.git("commit", "-q", "-m", "templates")
	g.git("push", "-q", g.pushURL(), "main")
	return g
}

// url is what the daemon follows (no credentials in it).
func (g *gitRemote) url() string { return g.proxy.url() + "/" + gitRepoPath }

func (g *gitRemote) pushURL() string {
	u, _ := url.Parse(g.srv.HTTPAddressWithCredentials())
	return u.String() + "/" + gitRepoPath
}

// git runs git in the clone and returns its output.
func (g *gitRemote) git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = g.work
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid", "GIT_CONFIG_NOSYSTEM=1", "HOME="+g.home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit appends a comment to rel (a var file: its template's inputs
// change, no other's), commits and pushes; it returns the commit.
func (g *gitRemote) commit(rel, msg string, extra ...string) string {
	g.t.Helper()
	p := filepath.Join(g.work, rel)
	b, err := os.ReadFile(p)
	if err != nil {
		g.t.Fatal(err)
	}
	if err := os.WriteFile(p, append(b, []byte("# "+msg+"\n")...), 0o644); err != nil {
		g.t.Fatal(err)
	}
	g.git(append([]string{"commit", "-q", "-a", "-m", msg}, extra...)...)
	g.git("push", "-q", "-f", g.pushURL(), "main")
	return g.git("rev-parse", "HEAD")
}

// gitWorld is a fleet of four templates, all built and current, whose
// desired file and workspace live in a git remote.
type gitWorld struct {
	*daemonWorld
	remote *gitRemote
}

func newGitWorld(t testing.TB) *gitWorld {
	t.Helper()
	e := newE2E(t, true, pvesim.Options{})
	e.seedAll(recently())
	if r := e.run("ledger", "init", "--dir", e.envValue("TEMPLATED_EVIDENCE_DIR"), "--key", e.envValue("TEMPLATED_LEDGER_KEY")); r.code != 0 {
		t.Fatalf("ledger init:\n%s", r)
	}
	return &gitWorld{daemonWorld: &daemonWorld{e2e: e}, remote: newGitRemote(t, e.repo)}
}

// start runs the daemon following the remote, from a directory that is no
// working copy; credentials come from the environment, never argv.
func (w *gitWorld) start(args ...string) *daemonProc {
	w.t.Helper()
	env := append(append([]string{}, w.env...), "TEMPLATED_GIT_USERNAME="+gitUser, "TEMPLATED_GIT_PASSWORD="+gitPassword,
		"TEMPLATED_GIT_WEBHOOK_SECRET="+hookSecret)
	return startDaemonProc(w.t, w.dir, env, append([]string{"--git", w.remote.url(), "--git-ref", "main"}, args...)...)
}

// hook sends a GitHub push delivery for main to the daemon's webhook.
func hook(t testing.TB, p *daemonProc, secret string) int {
	t.Helper()
	body := []byte(`{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000"}`)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, err := http.NewRequest(http.MethodPost, "http://"+p.addr+webhookPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "e2e")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// builds lists the templates of the ledger's build.started entries.
func (w *gitWorld) builds() []ledger.Entry {
	var out []ledger.Entry
	for _, e := range w.entries() {
		if e.Kind == ledger.KindBuildStarted {
			out = append(out, e)
		}
	}
	return out
}

// revision is the commit the daemon's /status says is in force.
func revision(p *daemonProc) string {
	if g := p.status().Git; g != nil {
		return g.Revision
	}
	return ""
}

// TestGitDaemonE2E: commits reach the daemon through the interval and
// through the webhook, each rebuilds exactly the template whose var file
// changed, and the ledger names the commit; the server down for a while
// is reported while the daemon keeps reconciling, and it catches up.
func TestGitDaemonE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("real Packer builds; skipped with -short")
	}
	t.Parallel()
	w := newGitWorld(t)
	first := w.remote.git("rev-parse", "HEAD")

	// Through the interval.
	p := w.start("--interval", "1h", "--git-interval", "1s", "--debounce", "100ms")
	p.waitFor(60*time.Second, "the first revision in force and a run", func() bool {
		return revision(p) == first && p.idleAfter(time.Time{})
	})
	if n := len(w.builds()); n != 0 {
		t.Fatalf("%d builds over a converged fleet", n)
	}
	c1 := w.remote.commit("packer/linux/ubuntu/ubuntu-22.04.pkrvars.hcl", "patch 22.04")
	p.waitFor(3*time.Minute, "the build of "+c1, func() bool {
		return w.count(ledger.KindBuildFinished, "success") == 1 && revision(p) == c1 && p.idleAfter(time.Time{})
	})
	checkBuilds(t, w.builds(), c1, "tpl-ubuntu-22.04")
	p.signal(os.Interrupt)
	if code := p.exitCode(time.Minute); code != 0 {
		t.Fatalf("daemon exit %d\n%s", code, p.tail())
	}

	// Through the webhook: the interval is an hour now, and the restarted
	// daemon keeps the revision in force without a build.
	p = w.start("--interval", "2s", "--git-interval", "1h", "--debounce", "100ms")
	p.waitFor(60*time.Second, "the restarted daemon's first run", func() bool { return revision(p) == c1 && p.idleAfter(time.Time{}) })
	if code := hook(t, p, "wrong-secret-0123456789"); code != http.StatusUnauthorized {
		t.Fatalf("webhook with a wrong secret: %d, want 401", code)
	}
	c2 := w.remote.commit("packer/linux/ubuntu/ubuntu-24.04.pkrvars.hcl", "patch 24.04")
	if code := hook(t, p, hookSecret); code != http.StatusAccepted {
		t.Fatalf("webhook: %d, want 202", code)
	}
	p.waitFor(5*time.Minute, "the build of "+c2, func() bool {
		return w.count(ledger.KindBuildFinished, "success") == 2 && revision(p) == c2
	})
	checkBuilds(t, w.builds()[1:], c2, "tpl-ubuntu-24.04")

	// The server down: fetches fail and are reported, reconciles go on
	// with the last good revision; back up, the next push is applied.
	w.remote.proxy.down()
	if code := hook(t, p, hookSecret); code != http.StatusAccepted {
		t.Fatalf("webhook: %d", code)
	}
	p.waitFor(time.Minute, "a failed fetch in /status", func() bool {
		g := p.status().Git
		return g != nil && !g.LastFetchOK && g.ConsecutiveFailures > 0 && g.Revision == c2
	})
	downSince := time.Now()
	p.waitFor(time.Minute, "an interval run while the server is down", func() bool { return p.idleAfter(downSince) })
	if v := p.metric(`templated_git_last_fetch_success`); v != 0 {
		t.Errorf("templated_git_last_fetch_success = %v while the server is down", v)
	}
	w.remote.proxy.up()
	c3 := w.remote.commit("packer/linux/ubuntu/ubuntu-22.04.pkrvars.hcl", "patch 22.04 again")
	if code := hook(t, p, hookSecret); code != http.StatusAccepted {
		t.Fatalf("webhook: %d", code)
	}
	p.waitFor(5*time.Minute, "the build of "+c3, func() bool {
		return w.count(ledger.KindBuildFinished, "success") == 3 && revision(p) == c3
	})
	checkBuilds(t, w.builds()[2:], c3, "tpl-ubuntu-22.04")
	if g := p.status().Git; g == nil || !g.LastFetchOK || g.ConsecutiveFailures != 0 {
		t.Errorf("after the server came back: %+v", g)
	}
	if v := p.metric(`templated_git_last_fetch_success`); v != 1 {
		t.Errorf("templated_git_last_fetch_success = %v after the server came back", v)
	}
	checkNoSecrets(t, w, p)
	p.signal(os.Interrupt)
	if code := p.exitCode(time.Minute); code != 0 {
		t.Fatalf("daemon exit %d\n%s", code, p.tail())
	}
	w.checkGitLedger()
}

// checkBuilds asserts that builds are exactly one of template, from commit.
func checkBuilds(t *testing.T, builds []ledger.Entry, commit, template string) {
	t.Helper()
	if len(builds) != 1 || builds[0].Template != template {
		var names []string
		for _, b := range builds {
			names = append(names, b.Template)
		}
		t.Fatalf("builds %v, want exactly %s", names, template)
	}
	g := builds[0].Git
	if g == nil || g.Commit != commit || !g.Fetched || g.Ref != "refs/heads/main" || g.FetchedAt == "" || strings.Contains(g.Repo, "@") {
		t.Fatalf("build of %s names %+v, want fetched commit %s", template, g, commit)
	}
}

// checkGitLedger verifies the ledger and checks that the provenance of
// the last build names the fetched commit.
func (w *gitWorld) checkGitLedger() {
	w.t.Helper()
	ev := w.envValue("TEMPLATED_EVIDENCE_DIR")
	if r := w.run("ledger", "verify", "--dir", ev, "--pubkey", filepath.Join(ev, "ledger", "ledger.vkey")); r.code != 0 {
		w.t.Errorf("ledger verify:\n%s", r)
	}
	head := w.remote.git("rev-parse", "HEAD")
	var found bool
	err := filepath.WalkDir(ev, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != ledger.FileProvenance {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var env struct{ Payload []byte }
		var st ledger.Statement
		if err := json.Unmarshal(b, &env); err != nil {
			return err
		}
		if err := json.Unmarshal(env.Payload, &st); err != nil {
			return err
		}
		for _, dep := range st.Predicate.BuildDefinition.ResolvedDependencies {
			if dep.Digest["gitCommit"] == head && dep.URI == "git+"+w.remote.url()+"@refs/heads/main" && dep.Annotations["fetchedAt"] != "" {
				found = true
			}
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if !found {
		w.t.Errorf("no provenance names commit %s", head)
	}
}

// checkNoSecrets looks for the git password and the webhook secret in the
// daemon's log, /status, the ledger and evidence, and its argv.
func checkNoSecrets(t *testing.T, w *gitWorld, p *daemonProc) {
	t.Helper()
	_, status := p.get("/status")
	_, metrics := p.get("/metrics")
	logText, _ := os.ReadFile(p.log)
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	places := map[string][]byte{"/status": []byte(status), "/metrics": []byte(metrics), "the log": logText, "argv": cmdline}
	for _, dir := range []string{w.envValue("TEMPLATED_EVIDENCE_DIR"), filepath.Join(w.envValue("TEMPLATED_STATE_DIR"), "git")} {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || strings.Contains(path, string(filepath.Separator)+"objects"+string(filepath.Separator)) {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			places[path] = b
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for where, b := range places {
		for _, s := range []string{gitPassword, hookSecret} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret", where)
			}
		}
	}
}

// signingKey makes an SSH signing key and returns its private key file
// and its allowed_signers line.
func signingKey(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	key := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(pub))
	return key, name + "@example.invalid " + f[0] + " " + f[1]
}

// signedBy are git's arguments to sign a commit with an SSH key.
func signedBy(key string) []string {
	return []string{"-S", "--gpg-sign=" + key}
}

// TestGitDaemonRefusals: with SSH signature verification on, an unsigned
// head, a head signed by a key not allowed, a signed head whose desired
// file is invalid and a force-push are each refused and recorded, with
// the last good revision kept and nothing built; a person's one-time
// allowance then lets the rewritten history through.
func TestGitDaemonRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("real Packer; skipped with -short")
	}
	t.Parallel()
	w := newGitWorld(t)
	keys := t.TempDir()
	good, goodLine := signingKey(t, keys, "alice")
	bad, _ := signingKey(t, keys, "mallory")
	signers := filepath.Join(keys, "allowed_signers")
	if err := os.WriteFile(signers, []byte(goodLine+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.remote.git("config", "gpg.format", "ssh")
	base := w.remote.commit("desired/templates.yaml", "signed", signedBy(good)...)

	p := w.start("--interval", "1h", "--git-interval", "1h", "--debounce", "100ms", "--git-verify", "ssh", "--git-allowed-signers", signers)
	p.waitFor(60*time.Second, "the signed revision in force", func() bool { return revision(p) == base && p.idleAfter(time.Time{}) })
	if g := p.status().Git; g == nil || !strings.HasPrefix(g.Signer, "alice@example.invalid") {
		t.Fatalf("signer in /status: %+v", g)
	}

	refusals := []struct {
		code string
		push func() string
	}{
		{"unsigned", func() string { return w.remote.commit("desired/templates.yaml", "unsigned") }},
		{"signer-not-allowed", func() string { return w.remote.commit("desired/templates.yaml", "mallory", signedBy(bad)...) }},
		{"desired-invalid", func() string {
			p := filepath.Join(w.remote.work, "desired", "templates.yaml")
			b, _ := os.ReadFile(p)
			if err := os.WriteFile(p, bytes.Replace(b, []byte("vmid: 9000"), []byte("vmid: 12"), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			return w.remote.commit("desired/templates.yaml", "bad vmid", signedBy(good)...)
		}},
		{"history-rewrite", func() string {
			w.remote.git("reset", "-q", "--hard", base+"~1")
			return w.remote.commit("desired/templates.yaml", "rewritten", signedBy(good)...)
		}},
	}
	var rewritten string
	for i, r := range refusals {
		c := r.push()
		rewritten = c
		if code := hook(t, p, hookSecret); code != http.StatusAccepted {
			t.Fatalf("%s: webhook %d", r.code, code)
		}
		p.waitFor(time.Minute, r.code+" refused", func() bool { return w.count(ledger.KindSourceRefused, "refused") == i+1 })
		var last ledger.Entry
		for _, e := range w.entries() {
			if e.Kind == ledger.KindSourceRefused {
				last = e
			}
		}
		if last.Reason == nil || last.Reason.Code != r.code || last.Git == nil || last.Git.Commit != c {
			t.Fatalf("%s: ledger records %+v %+v", r.code, last.Reason, last.Git)
		}
		if g := p.status().Git; g == nil || g.Revision != base || g.Refused == nil || g.Refused.Code != r.code {
			t.Fatalf("%s: /status git %+v", r.code, g)
		}
	}
	if n := len(w.builds()); n != 0 {
		t.Fatalf("%d builds while every revision was refused", n)
	}

	// A person allows the rewritten history once.
	if r := w.run("git", "allow-rewrite", "--state-dir", w.envValue("TEMPLATED_STATE_DIR"), rewritten[:10]); r.code != 0 {
		t.Fatalf("git allow-rewrite:\n%s", r)
	}
	if code := hook(t, p, hookSecret); code != http.StatusAccepted {
		t.Fatalf("webhook %d", code)
	}
	// The revision is in force before its acceptance reaches the ledger.
	p.waitFor(time.Minute, "the allowed rewrite in force and recorded", func() bool {
		return revision(p) == rewritten && p.idleAfter(time.Time{}) && w.count(ledger.KindSourceAccepted, "accepted") == 2
	})
	var accepted []ledger.Entry
	for _, e := range w.entries() {
		if e.Kind == ledger.KindSourceAccepted {
			accepted = append(accepted, e)
		}
	}
	if n := len(accepted); n != 2 || accepted[1].Reason == nil || accepted[1].Reason.Code != "rewrite-allowed" {
		t.Fatalf("accepted entries %+v", accepted)
	}
	if n := len(w.builds()); n != 0 {
		t.Fatalf("%d builds after a comment-only rewrite", n)
	}
	checkNoSecrets(t, w, p)
}
