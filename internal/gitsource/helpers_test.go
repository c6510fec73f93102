package gitsource

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// upstream is a bare repository (what the source fetches) and a working
// clone that commits and pushes to it, both driven by the git CLI.
type upstream struct {
	t     testing.TB
	bare  string
	work  string
	clock time.Time
}

// newUpstream creates root/org/repo.git (the layout gittestserver serves
// as /org/repo.git) and a working clone with branch main.
func newUpstream(t testing.TB, root string) *upstream {
	t.Helper()
	u := &upstream{t: t, bare: filepath.Join(root, "org", "repo.git"), work: t.TempDir(),
		clock: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)}
	u.git("", "init", "--quiet", "--bare", "-b", "main", u.bare)
	u.git(u.work, "init", "--quiet", "-b", "main")
	u.git(u.work, "remote", "add", "origin", u.bare)
	return u
}

func (u *upstream) fileURL() string { return "file://" + u.bare }

func (u *upstream) git(dir string, args ...string) string {
	u.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Tester", "GIT_AUTHOR_EMAIL=tester@example.invalid",
		"GIT_COMMITTER_NAME=Tester", "GIT_COMMITTER_EMAIL=tester@example.invalid",
		"GIT_AUTHOR_DATE="+u.clock.Format(time.RFC3339), "GIT_COMMITTER_DATE="+u.clock.Format(time.RFC3339))
	out, err := cmd.CombinedOutput()
	if err != nil {
		u.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// write writes a file in the working clone (mode 0o755 makes it
// executable).
func (u *upstream) write(name, content string, mode os.FileMode) {
	u.t.Helper()
	p := filepath.Join(u.work, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		u.t.Fatal(err)
	}
	os.Remove(p)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		u.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		u.t.Fatal(err)
	}
}

func (u *upstream) link(name, target string) {
	u.t.Helper()
	p := filepath.Join(u.work, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		u.t.Fatal(err)
	}
	os.Remove(p)
	if err := os.Symlink(target, p); err != nil {
		u.t.Fatal(err)
	}
}

// commit commits everything in the working clone one minute after the
// previous commit and returns the hash and committer time.
func (u *upstream) commit(msg string) (string, time.Time) {
	u.t.Helper()
	u.clock = u.clock.Add(time.Minute)
	u.git(u.work, "add", "-A")
	u.git(u.work, "commit", "--quiet", "--allow-empty", "-m", msg)
	return u.git(u.work, "rev-parse", "HEAD"), u.clock
}

func (u *upstream) push(force bool) {
	u.t.Helper()
	args := []string{"push", "--quiet", "origin", "main"}
	if force {
		args = append(args, "--force")
	}
	u.git(u.work, args...)
}

// commitAndPush writes desired/templates.yaml with content, commits and
// pushes.
func (u *upstream) commitAndPush(content string) string {
	u.t.Helper()
	u.write("desired/templates.yaml", content, 0o644)
	h, _ := u.commit("set " + content)
	u.push(false)
	return h
}

// rewrite resets the branch to base and commits something else on it,
// then force-pushes: a history rewrite.
func (u *upstream) rewrite(base, content string) string {
	u.t.Helper()
	u.git(u.work, "reset", "--quiet", "--hard", base)
	u.write("desired/templates.yaml", content, 0o644)
	h, _ := u.commit("rewrite " + content)
	u.push(true)
	return h
}

// fakeRecorder keeps the events it is given.
type fakeRecorder struct {
	mu     sync.Mutex
	events []Event
	err    error
}

func (r *fakeRecorder) RecordSource(_ context.Context, ev Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.events = append(r.events, ev)
	return nil
}

func (r *fakeRecorder) byKind(kind, code string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if e.Kind == kind && (code == "" || e.Code == code) {
			out = append(out, e)
		}
	}
	return out
}

// harness is a Source under test with what it reports to.
type harness struct {
	*Source
	cfg  Config
	rec  *fakeRecorder
	reg  *prometheus.Registry
	logs *logtest.Hook
}

// newHarness builds a Source on url with ref main, a fresh state
// directory, registry, recorder and captured logs; edit adjusts the
// config.
func newHarness(t testing.TB, url string, edit func(*Config)) *harness {
	t.Helper()
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	h := &harness{rec: &fakeRecorder{}, reg: prometheus.NewRegistry(), logs: hook}
	h.cfg = Config{URL: url, Ref: "main", Dir: filepath.Join(t.TempDir(), "git"), Timeout: 20 * time.Second,
		Recorder: h.rec, Log: logger, Registerer: h.reg,
		Now: func() time.Time { return time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC) }}
	if edit != nil {
		edit(&h.cfg)
	}
	s, err := New(h.cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	h.Source = s
	return h
}

// reopen builds a second Source on the same config and state directory,
// as a restarted daemon would.
func (h *harness) reopen(t testing.TB) *harness {
	t.Helper()
	h.Close()
	return newHarness(t, h.cfg.URL, func(c *Config) {
		rec, log, reg := c.Recorder, c.Log, c.Registerer
		*c = h.cfg
		c.Recorder, c.Log, c.Registerer = rec, log, reg
	})
}

func (h *harness) mustSync(t testing.TB) SyncResult {
	t.Helper()
	res, err := h.Sync(t.Context())
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return res
}

// logText is every captured log entry as the formatter would write it.
func (h *harness) logText(t testing.TB) string {
	var b strings.Builder
	for _, e := range h.logs.AllEntries() {
		line, err := e.String()
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(line)
	}
	return b.String()
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func inForce(t testing.TB, s *Source) string {
	t.Helper()
	_, rev, ok := s.Snapshot()
	if !ok {
		return ""
	}
	return rev.Commit
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func expect(t testing.TB, what string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// metricValue reads a counter's or gauge's value.
func metricValue(t testing.TB, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	must(t, (<-ch).Write(&m))
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("metric %v is neither a counter nor a gauge", c)
	return 0
}

// families lists the metric families reg holds.
func families(t testing.TB, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	must(t, err)
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	return names
}
