package ledger

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProofRoundTrip(t *testing.T) {
	f := newFixture(t)
	populate(t, f)
	ls := f.lines(t)
	for seq := range ls {
		p, err := Prove(f.dir, uint64(seq))
		if err != nil {
			t.Fatal(err)
		}
		res, err := CheckProof(p, []string{f.vkey}, nil)
		if err != nil || res.Index != uint64(seq) || res.Checkpoint.Size != 8 || res.Entry.Seq != uint64(seq) {
			t.Fatalf("proof %d: %+v %v", seq, res, err)
		}
		if _, err := CheckProof(p, []string{f.vkey}, ls[(seq+1)%len(ls)]); err == nil {
			t.Fatalf("proof %d accepted another entry", seq)
		}
	}
	_, other := otherKey(t, "templated.test/ledger")
	p, _ := Prove(f.dir, 2)
	if _, err := CheckProof(p, []string{other}, nil); err == nil || !strings.Contains(err.Error(), "not signed by a trusted key") {
		t.Fatalf("proof with an untrusted key: %v", err)
	}
	if _, err := Prove(f.dir, 8); err == nil {
		t.Fatal("proof of an entry beyond the checkpoint")
	}
	if _, err := OpenCheckpoint(f.read(t, "ledger", checkpointName), f.vkey); err != nil {
		t.Fatal(err)
	}
}

func TestHistoryAndPrune(t *testing.T) {
	f := newFixture(t)
	populate(t, f)
	l := f.open(t)
	defer l.Close()
	h, err := l.History("tpl-rocky-9")
	if err != nil || len(h) != 3 { // the decision planning it, build.started, build.finished
		t.Fatalf("history: %d %v", len(h), err)
	}
	// A newer successful build for ubuntu; then prune everything older
	// than 1h, one hour later: b1 (superseded) and b2 (failed) go.
	addBuild(t, l, "tpl-ubuntu-24.04", "b3", "success", true)
	f.now = f.now.Add(2 * time.Hour)
	seq, removed, err := l.Prune(context.Background(), time.Hour)
	if err != nil || len(removed) != 2 {
		t.Fatalf("prune: %d %v %v", seq, removed, err)
	}
	for _, b := range removed {
		if _, err := os.Stat(f.path(b.Template, b.BuildID)); !os.IsNotExist(err) {
			t.Fatalf("%v still present", b)
		}
	}
	if _, err := os.Stat(f.path("tpl-ubuntu-24.04", "b3")); err != nil {
		t.Fatal("newest successful build pruned")
	}
	if e := f.entries(t)[seq]; e.Kind != KindRetentionPrune || e.Prune.Retention != "1h0m0s" {
		t.Fatalf("prune entry %+v", e)
	}
	if _, again, _ := l.Prune(context.Background(), time.Hour); len(again) != 0 {
		t.Fatalf("second prune removed %v", again)
	}
	if r := f.verify(t); r.Status() != StatusIntact {
		t.Fatalf("after prune: %v", r.Findings)
	}
}

func TestBuildEvidenceRedactsSecrets(t *testing.T) {
	f := newFixture(t)
	const secret = "PVEAPIToken=root@pam!t=5e1d0c2a-secret"
	l, err := Open(context.Background(), Options{Dir: f.dir, KeyFile: f.keyFile, Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := l.NewBuild("tpl-win2022", "b1")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(b.LogPath, []byte("auth header "+secret+"\n"), 0o644)
	e, err := b.Finish(context.Background(), BuildInfo{Result: "failure", Error: "packer exited 1: 401 for " + secret})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, e)
	if hits, err := FindSecret(f.dir, secret); err != nil || len(hits) != 0 {
		t.Fatalf("secret found in %v (%v)", hits, err)
	}
	if _, err := l.NewBuild("tpl-win2022", "b1"); err == nil {
		t.Fatal("NewBuild reused a folder holding evidence")
	}
	os.WriteFile(filepath.Join(t.TempDir(), "x"), nil, 0o644)
	if !ContainsSecret([]byte("a "+"UFZFQVBJVG9rZW49cm9vdEBwYW0hdD01ZTFkMGMyYS1zZWNyZXQ="), secret) {
		t.Fatal("base64 form not found")
	}
}

// A build folder left unsealed by a crash keeps Packer's raw log until
// recovery calls RedactUnsealed; a sealed folder is never rewritten.
func TestRedactUnsealed(t *testing.T) {
	f := newFixture(t)
	const secret = "5e1d0c2a-0b7e-4c1f-9a8d-unsealed"
	l, err := Open(context.Background(), Options{Dir: f.dir, KeyFile: f.keyFile, Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	crashed, err := l.NewBuild("tpl-rocky-9", "crashed")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(crashed.LogPath, []byte("token "+secret+"\n"), 0o644)
	if hits, _ := FindSecret(f.dir, secret); len(hits) != 1 {
		t.Fatalf("setup: secret in %v", hits)
	}
	if did, err := l.RedactUnsealed("tpl-rocky-9", "crashed"); err != nil || !did {
		t.Fatalf("RedactUnsealed = %v, %v", did, err)
	}
	if hits, err := FindSecret(f.dir, secret); err != nil || len(hits) != 0 {
		t.Fatalf("secret still in %v (%v)", hits, err)
	}
	if got, _ := os.ReadFile(crashed.LogPath); string(got) != "token [redacted]\n" {
		t.Fatalf("log = %q", got)
	}
	// A sealed folder is left as sealed.
	sealed, _ := l.NewBuild("tpl-rocky-9", "sealed")
	os.WriteFile(sealed.LogPath, []byte("ok\n"), 0o644)
	e, err := sealed.Finish(context.Background(), BuildInfo{Result: "success"})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, e)
	if did, err := l.RedactUnsealed("tpl-rocky-9", "sealed"); err != nil || did {
		t.Fatalf("RedactUnsealed on a sealed folder = %v, %v", did, err)
	}
	if did, err := l.RedactUnsealed("tpl-rocky-9", "never-started"); err != nil || did {
		t.Fatalf("RedactUnsealed on a missing folder = %v, %v", did, err)
	}
	if _, err := l.RedactUnsealed("../x", "b"); err == nil {
		t.Fatal("a path in the template name was accepted")
	}
	if r := f.verify(t); r.Status() != StatusIntact {
		t.Fatalf("after RedactUnsealed: %v", r.Findings)
	}
}

func TestDetectCI(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for name, tc := range map[string]struct {
		env  map[string]string
		want CI
	}{
		"none":    {nil, CI{System: "none"}},
		"jenkins": {map[string]string{"BUILD_URL": "https://u:p@jenkins.example.org/job/t/12/", "BUILD_TAG": "jenkins-t-12"}, CI{System: "jenkins", URL: "https://jenkins.example.org/job/t/12/", BuildTag: "jenkins-t-12"}},
		"github": {map[string]string{"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "42"},
			CI{System: "github-actions", URL: "https://github.com/o/r/actions/runs/42", Repository: "o/r", RunID: "42"}},
	} {
		if got := DetectCI(env(tc.env)); got != tc.want {
			t.Errorf("%s: %+v, want %+v", name, got, tc.want)
		}
	}
}

func TestDetectGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	ctx := context.Background()
	dir := t.TempDir()
	if g, err := DetectGit(ctx, dir); g != nil || err != nil {
		t.Fatalf("not a repo: %+v %v", g, err)
	}
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.org"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	git("init", "-q")
	os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644)
	git("add", "a")
	git("commit", "-q", "-m", "a")
	git("remote", "add", "origin", "https://user:tok3n@git.example.org/infra/images.git")
	g, err := DetectGit(ctx, dir)
	if err != nil || g == nil || len(g.Commit) != 40 || g.Dirty || g.Repo != "https://git.example.org/infra/images.git" {
		t.Fatalf("clean repo: %+v %v", g, err)
	}
	os.WriteFile(filepath.Join(dir, "a"), []byte("b"), 0o644)
	if g, _ := DetectGit(ctx, dir); g == nil || !g.Dirty {
		t.Fatalf("dirty repo: %+v", g)
	}
}

func TestDefaultKeyPath(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if p := DefaultKeyPath(env(map[string]string{"TEMPLATED_LEDGER_KEY": "/k"})); p != "/k" {
		t.Fatal(p)
	}
	cred := t.TempDir()
	os.WriteFile(filepath.Join(cred, KeyFileName), nil, 0o600)
	if p := DefaultKeyPath(env(map[string]string{"CREDENTIALS_DIRECTORY": cred})); p != filepath.Join(cred, KeyFileName) {
		t.Fatal(p)
	}
	p := DefaultKeyPath(env(map[string]string{"XDG_CONFIG_HOME": "/cfg", "HOME": "/home/u"}))
	if os.Geteuid() == 0 && p != "/etc/templated/ledger.key" || os.Geteuid() != 0 && p != "/cfg/templated/ledger.key" {
		t.Fatal(p)
	}
}
