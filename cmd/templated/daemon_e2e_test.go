package main

// Process tests of `templated daemon`: the built binary as a child process,
// the simulator, real Packer. The desired file is narrowed to
// tpl-ubuntu-22.04 (a clone build, ~15 s with Packer's 2 s task polling)
// to keep the number and length of builds small.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"templated/internal/daemon"
	"templated/internal/journal"
	"templated/internal/ledger"
	"templated/internal/pvesim"
	"templated/internal/session"
	"templated/internal/state"
)

const (
	daemonTemplate = "tpl-ubuntu-22.04"
	desiredRel     = "desired/templates.yaml"
)

// daemonProc is a running `templated daemon`.
type daemonProc struct {
	t    testing.TB
	cmd  *exec.Cmd
	log  string // its stderr (JSON logs)
	addr string
	done chan struct{}
	err  error // Wait's error, once done is closed
}

// startDaemonProc starts the binary as `templated daemon` in dir with env,
// logging JSON to a file, and waits for its listener's address.
func startDaemonProc(t testing.TB, dir string, env []string, args ...string) *daemonProc {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "daemon-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	all := append([]string{"daemon", "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug"}, args...)
	cmd := exec.Command(binary, all...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &daemonProc{t: t, cmd: cmd, log: logf.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill() //nolint:errcheck // cleanup
			<-p.done
		}
	})
	p.waitFor(30*time.Second, "the listener's address", func() bool {
		p.addr = p.logField("serving /healthz", "addr")
		return p.addr != ""
	})
	return p
}

// logLines decodes the daemon's JSON log lines.
func (p *daemonProc) logLines() []map[string]any {
	f, err := os.Open(p.log)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// logField returns field of the newest log line whose msg starts with msg.
func (p *daemonProc) logField(msg, field string) string {
	lines := p.logLines()
	for i := len(lines) - 1; i >= 0; i-- {
		if m, _ := lines[i]["msg"].(string); strings.HasPrefix(m, msg) {
			v, _ := lines[i][field].(string)
			return v
		}
	}
	return ""
}

func (p *daemonProc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// waitFor polls cond every 50 ms until it holds; it fails the test after
// timeout (a bound for a broken daemon, not a speed assertion) or when the
// daemon exits.
func (p *daemonProc) waitFor(timeout time.Duration, what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case <-p.done:
			p.t.Fatalf("daemon exited (%v) while waiting for %s\n%s", p.err, what, p.tail())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %s after %s\n%s", what, timeout, p.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var plainClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get fetches path from the daemon's listener.
func (p *daemonProc) get(path string) (int, string) {
	p.t.Helper()
	resp, err := plainClient.Get("http://" + p.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// status is the daemon's /status (zero if it does not answer).
func (p *daemonProc) status() daemon.Status {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, _ := daemon.FetchStatus(ctx, p.addr)
	return st
}

// idle reports whether the daemon waits with nothing pending: idle, the
// last run finished after since.
func (p *daemonProc) idleAfter(since time.Time) bool {
	st := p.status()
	return st.State == "idle" && st.LastRun != nil && st.LastRun.Started.After(since)
}

// metric reads one unlabelled sample from /metrics.
func (p *daemonProc) metric(name string) float64 {
	p.t.Helper()
	code, body := p.get("/metrics")
	if code != http.StatusOK {
		p.t.Fatalf("/metrics: %d %s", code, body)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		p.t.Fatalf("/metrics has no %s", name)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		p.t.Fatal(err)
	}
	return v
}

// signal sends sig to the daemon.
func (p *daemonProc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// exitCode waits (up to timeout) for the daemon to exit.
func (p *daemonProc) exitCode(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("daemon still running %s after the signal\n%s", timeout, p.tail())
	}
	if p.cmd.ProcessState == nil {
		p.t.Fatalf("daemon: %v", p.err)
	}
	return p.cmd.ProcessState.ExitCode()
}

// --- the world around it ---------------------------------------------------------

// daemonWorld is an e2e world narrowed to one template, with the ledger
// initialised and the template built at release 1.0.0.
type daemonWorld struct {
	*e2e
	base string // desired file narrowed to daemonTemplate, release 1.0.0
}

func newDaemonWorld(t *testing.T, opts pvesim.Options) *daemonWorld {
	t.Helper()
	e := newE2E(t, true, opts)
	full, err := os.ReadFile(filepath.Join(e.repo, desiredRel))
	if err != nil {
		t.Fatal(err)
	}
	s := string(full)
	cut := strings.Index(s, "  - name: tpl-ubuntu-24.04")
	if cut < 0 {
		t.Fatal("desired file: tpl-ubuntu-24.04 entry not found")
	}
	w := &daemonWorld{e2e: e, base: s[:cut]}
	if !releaseRE.MatchString(w.base) {
		t.Fatal("desired file: no release line")
	}
	w.writeDesired("1.0.0", "")
	d := e.desired()
	if len(d.Templates) != 1 || d.Templates[0].Name != daemonTemplate {
		t.Fatalf("narrowed desired file has %d templates", len(d.Templates))
	}
	e.seedBuilt(d, d.Templates[0], recently(), "")
	if r := e.run("ledger", "init", "--dir", e.envValue("TEMPLATED_EVIDENCE_DIR"), "--key", e.envValue("TEMPLATED_LEDGER_KEY")); r.code != 0 {
		t.Fatalf("ledger init:\n%s", r)
	}
	return w
}

var releaseRE = regexp.MustCompile(`release: 1\.0\.0[^\n]*`)

// desiredText is the narrowed desired file at release with a trailing
// comment line (comments change the file, not the template's inputs).
func (w *daemonWorld) desiredText(release, comment string) string {
	s := releaseRE.ReplaceAllString(w.base, "release: "+release)
	if comment != "" {
		s += "# " + comment + "\n"
	}
	return s
}

// writeDesired writes the desired file in place (truncate and write).
func (w *daemonWorld) writeDesired(release, comment string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.repo, desiredRel), []byte(w.desiredText(release, comment)), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// renameDesired replaces the desired file as editors do: write a temporary
// file next to it, then rename it over.
func (w *daemonWorld) renameDesired(release, comment string) {
	w.t.Helper()
	tmp := filepath.Join(w.repo, "desired", ".templates.yaml.tmp")
	if err := os.WriteFile(tmp, []byte(w.desiredText(release, comment)), 0o644); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(w.repo, desiredRel)); err != nil {
		w.t.Fatal(err)
	}
}

func (e *e2e) envValue(key string) string {
	for _, kv := range e.env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

func (w *daemonWorld) startDaemon(args ...string) *daemonProc {
	w.t.Helper()
	return startDaemonProc(w.t, w.repo, w.env, args...)
}

// entries reads the ledger (without verifying it).
func (w *daemonWorld) entries() []ledger.Entry {
	w.t.Helper()
	es, err := ledger.ReadEntries(w.envValue("TEMPLATED_EVIDENCE_DIR"))
	if err != nil {
		w.t.Fatalf("read ledger: %v", err)
	}
	return es
}

// count counts ledger entries of kind (and result, when not empty).
func (w *daemonWorld) count(kind ledger.Kind, result string) int {
	n := 0
	for _, e := range w.entries() {
		if e.Kind == kind && (result == "" || e.Result == result) {
			n++
		}
	}
	return n
}

// stagingVMs lists guests in the staging range.
func (w *daemonWorld) stagingVMs() []int {
	var out []int
	for _, g := range w.sim.Cluster().Guests() {
		if g.VMID >= 9900 && g.VMID <= 9949 {
			out = append(out, g.VMID)
		}
	}
	return out
}

// pendingOps lists the journal's unfinished operations.
func (w *daemonWorld) pendingOps() []journal.Op {
	w.t.Helper()
	j, err := journal.OpenJournal(w.envValue("TEMPLATED_STATE_DIR"))
	if err != nil {
		w.t.Fatal(err)
	}
	ops, err := j.Pending()
	if err != nil {
		w.t.Fatal(err)
	}
	return ops
}

// builtRelease is the release stamped on the template at its VMID.
func (w *daemonWorld) builtRelease() string {
	g, ok := w.sim.Cluster().Guest(9000)
	if !ok {
		return ""
	}
	s, ok := state.StampFromDescription(g.Description)
	if !ok {
		return ""
	}
	return s.Release
}

// checkConverged asserts the end state with the daemon stopped: plan has
// nothing to do, no staging VM, no journal entry, the ledger verifies.
func (w *daemonWorld) checkConverged(release string) {
	w.t.Helper()
	if r := w.run("plan", "--detailed-exitcode"); r.code != 0 {
		w.t.Errorf("not converged:\n%s", r)
	}
	if got := w.builtRelease(); got != release {
		w.t.Errorf("release at 9000 = %q, want %s", got, release)
	}
	if vms := w.stagingVMs(); len(vms) != 0 {
		w.t.Errorf("staging VMs left behind: %v", vms)
	}
	if ops := w.pendingOps(); len(ops) != 0 {
		w.t.Errorf("journal still holds %+v", ops)
	}
	ev := w.envValue("TEMPLATED_EVIDENCE_DIR")
	if r := w.run("ledger", "verify", "--dir", ev, "--pubkey", filepath.Join(ev, "ledger", "ledger.vkey")); r.code != 0 {
		w.t.Errorf("ledger verify:\n%s", r)
	}
}

// git runs git in the repository copy.
func (w *daemonWorld) git(args ...string) {
	w.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = w.repo
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid", "GIT_CONFIG_NOSYSTEM=1", "HOME="+w.dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// leftovers counts the processes whose command line mentions marker (the
// test's own directory): what outlived a killed templated.
func leftovers(marker string) int {
	n := 0
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if cmdline, err := os.ReadFile(filepath.Join(d, "cmdline")); err == nil && bytes.Contains(cmdline, []byte(marker)) {
			n++
		}
	}
	return n
}

// --- tests -----------------------------------------------------------------

// TestDaemonE2EChanges: one rebuild per change (rename, in-place write,
// git checkout), a rejected file and no action, its restoration, SIGHUP,
// then a clean stop.
func TestDaemonE2EChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("real Packer builds; skipped with -short")
	}
	t.Parallel()
	w := newDaemonWorld(t, pvesim.Options{})
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	w.git("init", "-q", "-b", "main")
	w.git("add", "desired")
	w.git("commit", "-q", "-m", "release 1.0.0")
	w.git("checkout", "-q", "-b", "bump")
	w.writeDesired("1.3.0", "")
	w.git("commit", "-q", "-am", "release 1.3.0")
	w.git("checkout", "-q", "main")

	p := w.startDaemon("--interval", "1h", "--debounce", "200ms")
	p.waitFor(30*time.Second, "the first run", func() bool { return p.idleAfter(time.Time{}) })
	if code, body := p.get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	if n := w.count(ledger.KindBuildStarted, ""); n != 0 {
		t.Fatalf("%d builds at start over an up-to-date template", n)
	}

	// Each change: exactly one build, and the release swapped in.
	changes := []struct {
		name, release string
		do            func()
	}{
		{"rename", "1.1.0", func() { w.renameDesired("1.1.0", "") }},
		{"in-place write", "1.2.0", func() { w.writeDesired("1.2.0", "") }},
		{"git checkout", "1.3.0", func() {
			w.git("commit", "-q", "-am", "release 1.2.0")
			w.git("checkout", "-q", "bump")
		}},
	}
	for i, c := range changes {
		before := time.Now()
		c.do()
		p.waitFor(2*time.Minute, c.name+": a successful build", func() bool {
			return w.count(ledger.KindBuildFinished, "success") == i+1 && p.idleAfter(before)
		})
		if n := w.count(ledger.KindBuildStarted, ""); n != i+1 {
			t.Fatalf("%s: %d builds started in all, want %d", c.name, n, i+1)
		}
		if got := w.builtRelease(); got != c.release {
			t.Fatalf("%s: release at 9000 = %q, want %s", c.name, got, c.release)
		}
	}

	// An invalid file: rejected, recorded, no action; the daemon stays up.
	builds := w.count(ledger.KindBuildStarted, "")
	decisions := w.count(ledger.KindDecision, "")
	good := w.desiredText("1.3.0", "")
	if err := os.WriteFile(filepath.Join(w.repo, desiredRel), []byte(strings.Replace(good, "vmid: 9000", "vmid: 12", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	p.waitFor(30*time.Second, "the rejection", func() bool { return w.count(ledger.KindDesiredRejected, "") == 1 })
	p.waitFor(10*time.Second, "the rejection in /status", func() bool {
		st := p.status()
		return st.Desired.Rejected != nil && strings.Contains(st.Message, "desired file rejected")
	})
	if rej := w.entries(); !strings.Contains(rej[len(rej)-1].Error, "templates[0].vmid") {
		t.Errorf("rejection entry: %+v", rej[len(rej)-1])
	}
	if b, d := w.count(ledger.KindBuildStarted, ""), w.count(ledger.KindDecision, ""); b != builds || d != decisions {
		t.Fatalf("a rejected file led to action: builds %d→%d, decisions %d→%d", builds, b, decisions, d)
	}
	// Restored: the rejection clears; nothing to build.
	before := time.Now()
	w.renameDesired("1.3.0", "")
	p.waitFor(30*time.Second, "the restored file in force", func() bool {
		return p.idleAfter(before) && p.status().Desired.Rejected == nil
	})
	// SIGHUP: a reload and a run that decides nothing is to do.
	before = time.Now()
	p.signal(syscall.SIGHUP)
	p.waitFor(30*time.Second, "the run after SIGHUP", func() bool {
		st := p.status()
		return p.idleAfter(before) && strings.Contains(st.LastRun.Trigger, "reload")
	})
	es := w.entries()
	last := es[len(es)-1]
	if last.Kind != ledger.KindDecision || last.Result != "nothing-to-do" || last.Reason == nil || !strings.Contains(last.Reason.Detail, "reload") {
		t.Errorf("after SIGHUP the last entry is %+v, want a nothing-to-do decision for the reload", last)
	}
	if b := w.count(ledger.KindBuildStarted, ""); b != builds {
		t.Fatalf("builds %d→%d after the restore and SIGHUP", builds, b)
	}
	if b := w.count(ledger.KindDesiredRejected, ""); b != 1 {
		t.Fatalf("%d rejections recorded, want 1", b)
	}

	// `templated status` asks the running daemon.
	st := w.run("status", "--listen", p.addr, "--json")
	var rep session.StatusReport
	if err := json.Unmarshal([]byte(st.stdout), &rep); err != nil || rep.Source != session.SourceDaemon || len(rep.Templates) != 1 ||
		rep.Templates[0].LastResult != "success" || rep.Templates[0].Release != "1.3.0" || rep.Templates[0].NextRebuild.IsZero() {
		t.Errorf("status from the daemon: %v\n%s", err, st)
	}

	p.signal(syscall.SIGTERM)
	if code := p.exitCode(time.Minute); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d\n%s", code, p.tail())
	}
	w.checkConverged("1.3.0")
}

// TestDaemonE2EInterrupted: SIGTERM and kill -9 during a build; each time
// the next start resumes and converges, with no staging VM left behind.
func TestDaemonE2EInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("real Packer builds; skipped with -short")
	}
	t.Parallel()
	w := newDaemonWorld(t, pvesim.Options{})
	args := []string{"--interval", "1h", "--debounce", "100ms"}
	buildRunning := func(p *daemonProc, n int) func() bool {
		return func() bool { return w.count(ledger.KindBuildStarted, "") >= n && len(w.stagingVMs()) > 0 }
	}

	// SIGTERM during a build: a clean stop (exit 0), Packer interrupted.
	w.writeDesired("1.1.0", "")
	p := w.startDaemon(args...)
	p.waitFor(time.Minute, "a build in progress", buildRunning(p, 1))
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(2 * time.Minute); code != 0 {
		t.Fatalf("exit code after SIGTERM during a build = %d\n%s", code, p.tail())
	}
	if ops, vms := w.pendingOps(), w.stagingVMs(); len(vms) != 0 && len(ops) == 0 {
		t.Fatalf("stopped with staging VMs %v and no journal entry to resume from", vms)
	}
	if got := w.builtRelease(); got != "1.0.0" {
		t.Fatalf("an interrupted build changed the template: release %q", got)
	}
	p = w.startDaemon(args...)
	p.waitFor(2*time.Minute, "the resumed build", func() bool {
		return w.count(ledger.KindBuildFinished, "success") == 1 && p.idleAfter(time.Time{}) && len(w.stagingVMs()) == 0
	})
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(time.Minute); code != 0 {
		t.Fatalf("exit code after SIGTERM while idle = %d", code)
	}
	w.checkConverged("1.1.0")

	// kill -9 during a build: the next start cleans up and converges.
	w.writeDesired("1.2.0", "")
	p = w.startDaemon(args...)
	started := w.count(ledger.KindBuildStarted, "")
	p.waitFor(time.Minute, "a build in progress", buildRunning(p, started+1))
	p.signal(syscall.SIGKILL)
	if code := p.exitCode(30 * time.Second); code != -1 {
		t.Fatalf("exit code after SIGKILL = %d", code)
	}
	// The orphaned Packer goes on cleaning up staging VMID 9900 (it got
	// SIGTERM when templated died). The next start must wait for it
	// (packer.ReapOrphans) rather than build at 9900 again meanwhile;
	// nothing here kills it for the daemon.
	t.Logf("processes left after kill -9: %d", leftovers(w.dir))
	p = w.startDaemon(args...)
	p.waitFor(3*time.Minute, "convergence after kill -9", func() bool {
		return w.builtRelease() == "1.2.0" && p.idleAfter(time.Time{}) && len(w.stagingVMs()) == 0
	})
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(time.Minute); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d", code)
	}
	w.checkConverged("1.2.0")
}

// TestDaemonE2EWaitsForValidFile: started with an invalid desired file, the
// daemon stays up, not ready, and reconciles once the file is fixed.
func TestDaemonE2EWaitsForValidFile(t *testing.T) {
	t.Parallel()
	e := newE2E(t, false, pvesim.Options{})
	e.seedAll(recently())
	if r := e.run("ledger", "init", "--dir", e.envValue("TEMPLATED_EVIDENCE_DIR"), "--key", e.envValue("TEMPLATED_LEDGER_KEY")); r.code != 0 {
		t.Fatalf("ledger init:\n%s", r)
	}
	good, err := os.ReadFile(filepath.Join(e.repo, desiredRel))
	if err != nil {
		t.Fatal(err)
	}
	e.edit(desiredRel, func(s string) string { return strings.Replace(s, "vmid: 9001", "vmid: 9000", 1) })
	p := startDaemonProc(t, e.repo, e.env, "--debounce", "100ms")
	w := &daemonWorld{e2e: e}
	p.waitFor(30*time.Second, "the rejection", func() bool { return w.count(ledger.KindDesiredRejected, "") == 1 })
	st := p.status()
	if st.State != "waiting" || st.Ready || !strings.HasPrefix(st.Message, "waiting for a valid desired file: ") ||
		!strings.Contains(st.Message, "9000 is already used by tpl-ubuntu-22.04") {
		t.Fatalf("status while waiting = %+v", st)
	}
	if code, _ := p.get("/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d while waiting", code)
	}
	if n := w.count(ledger.KindDecision, ""); n != 0 {
		t.Fatalf("%d decisions without a valid desired file", n)
	}
	tmp := filepath.Join(e.repo, "desired", "templates.yaml.new")
	if err := os.WriteFile(tmp, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.repo, desiredRel)); err != nil {
		t.Fatal(err)
	}
	p.waitFor(30*time.Second, "ready after the fix", func() bool {
		code, _ := p.get("/readyz")
		return code == http.StatusOK && p.idleAfter(time.Time{})
	})
	if n := w.count(ledger.KindDecision, "nothing-to-do"); n != 1 {
		t.Fatalf("%d nothing-to-do decisions after the fix, want 1", n)
	}
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(30 * time.Second); code != 0 {
		t.Fatalf("exit code = %d", code)
	}
}

// TestDaemonSoak: 200 changes of the desired file (comments, with a few
// release bumps) while the simulator injects 500s, 596s and latency. No
// goroutine, descriptor or memory growth; converged; the ledger verifies.
func TestDaemonSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test; skipped with -short")
	}
	t.Parallel()
	w := newDaemonWorld(t, pvesim.Options{})
	p := w.startDaemon("--interval", "2s", "--debounce", "50ms")
	p.waitFor(30*time.Second, "the first run", func() bool { return p.idleAfter(time.Time{}) })

	type sample struct{ goroutines, fds, rss float64 }
	measure := func() sample {
		return sample{p.metric("go_goroutines"), p.metric("process_open_fds"), p.metric("process_resident_memory_bytes")}
	}
	// settle waits for an idle daemon after the last change.
	settle := func() {
		since := time.Now()
		p.waitFor(3*time.Minute, "an idle daemon", func() bool { return p.idleAfter(since) })
	}
	warm := func(release string, n int) {
		for i := range n {
			w.renameDesired(release, fmt.Sprintf("warm-up %d", i))
			time.Sleep(60 * time.Millisecond)
		}
		settle()
	}
	warm("1.0.0", 10) // connections, caches and the runtime at their steady size
	first := measure()

	faults := []pvesim.Fault{
		{Method: "GET", Path: "/cluster/resources", Status: 500, Message: "internal error", Count: 3},
		{Method: "GET", Path: "/cluster/resources", Status: 596, Message: "Connection timed out", EmptyBody: true, Count: 2},
		{Path: "/**", Latency: 150 * time.Millisecond, Count: 20},
		{Method: "GET", Path: "/nodes/*/qemu/*/config", Status: 500, Message: "got timeout", Count: 2},
	}
	release := "1.0.0"
	var peak sample
	const changes = 200
	for i := range changes {
		if i%25 == 0 {
			w.sim.Faults().MustAdd(faults[(i/25)%len(faults)])
		}
		switch {
		case i == 80 || i == 160:
			// A release bump: one real build, without faults on the way.
			settle()
			w.sim.Faults().Clear()
			release = fmt.Sprintf("1.%d.0", i/80)
			w.writeDesired(release, fmt.Sprintf("change %d", i))
		case i%2 == 0:
			w.renameDesired(release, fmt.Sprintf("change %d", i))
		default:
			w.writeDesired(release, fmt.Sprintf("change %d", i))
		}
		time.Sleep(time.Duration(20+(i*37)%180) * time.Millisecond)
		if i%50 == 49 {
			s := measure()
			peak.goroutines, peak.fds, peak.rss = max(peak.goroutines, s.goroutines), max(peak.fds, s.fds), max(peak.rss, s.rss)
		}
	}
	w.sim.Faults().Clear()
	p.waitFor(3*time.Minute, "the last release built", func() bool { return w.builtRelease() == release })
	warm(release, 10) // the same steady state as the first sample
	last := measure()
	t.Logf("soak: goroutines %v→%v (peak %v), fds %v→%v (peak %v), RSS %.1f→%.1f MiB (peak %.1f)",
		first.goroutines, last.goroutines, peak.goroutines, first.fds, last.fds, peak.fds,
		first.rss/(1<<20), last.rss/(1<<20), peak.rss/(1<<20))
	if last.goroutines > first.goroutines+4 {
		t.Errorf("goroutines grew from %v to %v", first.goroutines, last.goroutines)
	}
	if last.fds > first.fds+4 {
		t.Errorf("open file descriptors grew from %v to %v", first.fds, last.fds)
	}
	if last.rss > max(1.5*first.rss, first.rss+16<<20) {
		t.Errorf("resident memory grew from %.1f to %.1f MiB", first.rss/(1<<20), last.rss/(1<<20))
	}
	if n := w.count(ledger.KindBuildFinished, "success"); n != 2 {
		t.Errorf("%d successful builds, want 2 (one per release bump)", n)
	}
	// A fault injected while a build runs may fail it (no destructive
	// step; the next run retries); never often enough to suspend it.
	if n := w.count(ledger.KindBuildFinished, "failure"); n >= 3 {
		t.Errorf("%d failed builds", n)
	} else if n > 0 {
		t.Logf("%d build(s) failed on an injected fault and were retried", n)
	}
	if st := p.status(); len(st.Templates) != 1 || st.Templates[0].Suspended {
		t.Errorf("status at the end: %+v", st.Templates)
	}
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(time.Minute); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d\n%s", code, p.tail())
	}
	w.checkConverged(release)
	if bytes.Contains([]byte(p.tail()), []byte(w.sim.TokenSecret())) {
		t.Error("the token secret appears in the daemon's log")
	}
}
