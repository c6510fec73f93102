package packer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

const testSecret = "s3cr3t-9f8e7d6c-token-value"

// fakeRunner runs this test binary as packer.
func fakeRunner(t testing.TB) *Runner {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &Runner{Packer: exe, KillGrace: 500 * time.Millisecond, Env: []string{"PATH=" + os.Getenv("PATH"), "GORACE=atexit_sleep_ms=0"}}
}

// fakeBuild is a build in a fresh directory whose fake packer runs mode.
func fakeBuild(t testing.TB, mode string) Build {
	dir := t.TempDir()
	return Build{
		Name: "tpl-x",
		Dir:  dir,
		Env:  map[string]string{"FAKE_PACKER": mode, "FAKE_DIR": dir},
	}
}

// testCtx bounds a test so that a hang fails instead of blocking the suite.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func readEvidence(t *testing.T, b Build, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(b.Dir, name))
	if err != nil {
		t.Fatalf("fake packer evidence: %v", err)
	}
	return string(data)
}

// lockedBuffer is an Output shared by goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// seen is closed when a line containing want has been written.
	want string
	seen chan struct{}
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen != nil && l.want != "" && bytes.Contains(p, []byte(l.want)) {
		close(l.seen)
		l.want = ""
	}
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// cancelOnOutput returns a context that is canceled once a line containing
// want is written to the returned Output.
func cancelOnOutput(t *testing.T, want string) (context.Context, *lockedBuffer) {
	out := &lockedBuffer{want: want, seen: make(chan struct{})}
	ctx, cancel := context.WithCancel(testCtx(t))
	t.Cleanup(cancel)
	go func() {
		select {
		case <-out.seen:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, out
}

// asBuildError fails the test unless err is a *BuildError.
func asBuildError(t *testing.T, err error) *BuildError {
	t.Helper()
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want *BuildError", err)
	}
	return be
}

func TestBuildSuccess(t *testing.T) {
	r := fakeRunner(t)
	logger, hook := logtest.NewNullLogger()
	r.Log = logger
	b := fakeBuild(t, "ok")
	out := &lockedBuffer{}
	b.Output = out
	b.LogPath = "evidence/packer.log"
	b.Vars = map[string]string{"vm_id": "9123", "template_name": "tpl-x"}
	b.VarFiles = []string{"ubuntu-22.04.pkrvars.hcl"}
	b.Only = []string{"proxmox-iso.ubuntu", "proxmox-clone.ubuntu"}

	res, err := r.Build(testCtx(t), b)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if res.ExitCode != 0 || res.ArtifactID != "9000" {
		t.Errorf("result = %+v, want exit 0 and artifact 9000", res)
	}
	if res.Duration <= 0 {
		t.Errorf("duration = %v", res.Duration)
	}
	want := "tpl-x: ==> null.x: Running, with a comma\n" +
		"tpl-x: ==> null.x: and a second line\n" +
		"tpl-x:     null.x: provisioner output\n" +
		"tpl-x: --> null.x: A template was created: 9000\n"
	// stdout and stderr are separate pipes: their relative order is not kept.
	got := strings.Replace(out.String(), "tpl-x: a plain stderr line\n", "", 1)
	if got != want || !strings.Contains(out.String(), "tpl-x: a plain stderr line\n") {
		t.Errorf("output:\n%s\nwant it to contain:\n%s", got, want)
	}
	for l := range strings.Lines(out.String()) {
		if !strings.HasPrefix(l, "tpl-x: ") {
			t.Errorf("unprefixed output line %q", l)
		}
		if strings.Contains(l, "PACKER_COMMA") || strings.Contains(l, "artifact,0") {
			t.Errorf("machine-readable text leaked into output: %q", l)
		}
	}
	if !strings.Contains(res.Tail, "--> null.x: A template was created: 9000") || strings.Contains(res.Tail, "tpl-x: ") {
		t.Errorf("tail = %q", res.Tail)
	}

	gotArgs := strings.Split(readEvidence(t, b, "args"), "\n")
	wantArgs := []string{"build", "-machine-readable", "-color=false",
		"-only=proxmox-iso.ubuntu,proxmox-clone.ubuntu", "-var-file=ubuntu-22.04.pkrvars.hcl",
		"-var", "template_name=tpl-x", "-var", "vm_id=9123", "."}
	if !slices.Equal(gotArgs, wantArgs) {
		t.Errorf("args = %q\nwant %q", gotArgs, wantArgs)
	}
	if wd := readEvidence(t, b, "wd"); wd != b.Dir {
		t.Errorf("working directory = %q, want %q", wd, b.Dir)
	}
	env := strings.Split(readEvidence(t, b, "environ"), "\x00")
	for _, kv := range []string{"CHECKPOINT_DISABLE=1", "PACKER_NO_COLOR=1", "PACKER_LOG=1",
		"PACKER_LOG_PATH=" + filepath.Join(b.Dir, "evidence/packer.log")} {
		if !slices.Contains(env, kv) {
			t.Errorf("environment lacks %s: %q", kv, env)
		}
	}
	if fi, err := os.Stat(filepath.Join(b.Dir, "evidence")); err != nil || !fi.IsDir() {
		t.Errorf("log directory not created: %v", err)
	}
	if len(hook.AllEntries()) == 0 || hook.LastEntry().Data["template"] != "tpl-x" {
		t.Errorf("log entries = %v", hook.AllEntries())
	}
}

func TestBuildEnvironmentIsMinimal(t *testing.T) {
	t.Setenv("TEMPLATED_UNRELATED", "leak")
	// The ledger signing key's place never reaches Packer (systemd's
	// LoadCredential= puts it under $CREDENTIALS_DIRECTORY).
	t.Setenv("TEMPLATED_LEDGER_KEY", "/etc/templated/ledger.key")
	t.Setenv("CREDENTIALS_DIRECTORY", "/run/credentials/templated.service")
	t.Setenv("PACKER_PLUGIN_PATH", "/plugins")
	r := fakeRunner(t)
	r.Env = nil               // the allow-list from our own environment
	b := fakeBuild(t, "fail") // not exit0: without GORACE the race runtime sleeps 1s at exit 0
	if _, err := r.Build(testCtx(t), b); err == nil {
		t.Fatal("the fake's failure was not reported")
	}
	env := strings.Split(readEvidence(t, b, "environ"), "\x00")
	if !slices.Contains(env, "PACKER_PLUGIN_PATH=/plugins") {
		t.Errorf("PACKER_PLUGIN_PATH not passed: %q", env)
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "TEMPLATED_") || strings.HasPrefix(kv, "CREDENTIALS_DIRECTORY=") {
			t.Errorf("variable outside the allow-list passed: %q", kv)
		}
	}
	if slices.Contains(env, "PACKER_LOG=1") {
		t.Errorf("PACKER_LOG set without LogPath")
	}
}

func TestBuildSecretOnlyInEnvironment(t *testing.T) {
	r := fakeRunner(t)
	b := fakeBuild(t, "ok")
	b.Env["PROXMOX_TOKEN"] = testSecret
	b.Vars = map[string]string{"proxmox_url": "https://127.0.0.1:8006/api2/json"}
	if _, err := r.Build(testCtx(t), b); err != nil {
		t.Fatal(err)
	}
	cmdline := readEvidence(t, b, "cmdline") // /proc/self/cmdline of the running fake
	if !strings.Contains(cmdline, "-machine-readable") {
		t.Fatalf("cmdline evidence looks wrong: %q", cmdline)
	}
	if strings.Contains(cmdline, testSecret) {
		t.Errorf("secret in /proc/<pid>/cmdline: %q", cmdline)
	}
	if env := readEvidence(t, b, "environ"); !strings.Contains(env, "PROXMOX_TOKEN="+testSecret) {
		t.Errorf("secret not in /proc/<pid>/environ")
	}
}

func TestBuildRefusesSecretInArguments(t *testing.T) {
	r := fakeRunner(t)
	b := fakeBuild(t, "ok")
	b.Env["PROXMOX_TOKEN"] = testSecret
	b.Vars = map[string]string{"token": testSecret}
	_, err := r.Build(testCtx(t), b)
	if err == nil {
		t.Fatal("Build with the secret in -var succeeded")
	}
	if strings.Contains(err.Error(), testSecret) || !strings.Contains(err.Error(), "PROXMOX_TOKEN") {
		t.Errorf("error = %q: must name the variable, not the value", err)
	}
	if _, statErr := os.Stat(filepath.Join(b.Dir, "args")); statErr == nil {
		t.Error("packer was started anyway")
	}
}

func TestBuildRedactsSecretsFromOutput(t *testing.T) {
	r := fakeRunner(t)
	b := fakeBuild(t, "echo-secret")
	b.Env["PROXMOX_TOKEN"] = testSecret
	out := &lockedBuffer{}
	b.Output = out
	res, err := r.Build(testCtx(t), b)
	be := asBuildError(t, err)
	for what, s := range map[string]string{"output": out.String(), "tail": res.Tail, "error": err.Error(), "errors": strings.Join(be.Errors, "\n")} {
		if strings.Contains(s, testSecret) {
			t.Errorf("secret in %s: %q", what, s)
		}
		if !strings.Contains(s, "[redacted PROXMOX_TOKEN]") {
			t.Errorf("%s lacks the redaction marker: %q", what, s)
		}
	}
}

func TestBuildFailure(t *testing.T) {
	r := fakeRunner(t)
	b := fakeBuild(t, "fail")
	res, err := r.Build(testCtx(t), b)
	be := asBuildError(t, err)
	if be.ExitCode != 1 || res.ExitCode != 1 || be.TimedOut || be.Canceled || be.Killed {
		t.Errorf("BuildError = %+v", be)
	}
	wantErrs := []string{
		"Build 'null.x' errored after 1 second: 500 Internal Server Error, try again",
		"==> Some builds didn't complete successfully and had errors:",
		"--> null.x: 500 Internal Server Error",
	}
	if !slices.Equal(be.Errors, wantErrs) {
		t.Errorf("Errors = %q\nwant %q", be.Errors, wantErrs)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "packer build tpl-x: exit code 1: Build 'null.x' errored after 1 second: 500 Internal Server Error, try again;") {
		t.Errorf("message = %q", msg)
	}
	if !strings.Contains(be.Tail, "==> null.x: Creating VM") {
		t.Errorf("tail = %q", be.Tail)
	}
	var exitErr interface{ ExitCode() int }
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Errorf("cause is not the exit error: %v", be.Err)
	}
}

func TestBuildTimeoutKillsProcessIgnoringSIGINT(t *testing.T) {
	r := fakeRunner(t)
	r.KillGrace = 200 * time.Millisecond
	// Start the fake with SIGINT already ignored (a child inherits SIG_IGN,
	// and Go keeps it), so that the SIGINT cannot arrive before the fake
	// ignores it itself.
	signal.Ignore(syscall.SIGINT)
	t.Cleanup(func() { signal.Reset(syscall.SIGINT) })
	b := fakeBuild(t, "hang-ignore")
	b.Timeout = 300 * time.Millisecond
	_, err := r.Build(testCtx(t), b)
	be := asBuildError(t, err)
	if !be.TimedOut || be.Canceled || !be.Killed || be.ExitCode != 128+int(syscall.SIGKILL) {
		t.Errorf("BuildError = %+v, want timed out and killed", be)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, DeadlineExceeded) = false: %v", err)
	}
	if want := "packer build tpl-x: timed out after 300ms (killed after the grace period); last output: started"; err.Error() != want {
		t.Errorf("message = %q\nwant %q", err, want)
	}
}

func TestBuildTimeoutLetsPackerCleanUp(t *testing.T) {
	r := fakeRunner(t)
	r.KillGrace = 30 * time.Second // the fake exits on SIGINT long before
	b := fakeBuild(t, "hang-cleanup")
	// Long enough for the fake to start and install its SIGINT handler.
	b.Timeout = 2 * time.Second
	_, err := r.Build(testCtx(t), b)
	be := asBuildError(t, err)
	if !be.TimedOut || be.Killed || be.ExitCode != 1 {
		t.Errorf("BuildError = %+v, want timed out, exit 1, not killed", be)
	}
	if got := readEvidence(t, b, "cleaned-up"); got != "yes" {
		t.Errorf("cleanup marker = %q", got)
	}
	if !strings.Contains(be.Tail, "deleting VM 9000") || !strings.Contains(err.Error(), "Cleanly cancelled builds") {
		t.Errorf("tail = %q, err = %v", be.Tail, err)
	}
}

func TestBuildCancel(t *testing.T) {
	r := fakeRunner(t)
	r.KillGrace = 30 * time.Second
	b := fakeBuild(t, "hang-cleanup")
	ctx, out := cancelOnOutput(t, "started")
	b.Output = out
	_, err := r.Build(ctx, b)
	be := asBuildError(t, err)
	if !be.Canceled || be.TimedOut || be.Killed {
		t.Errorf("BuildError = %+v, want canceled", be)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(err, Canceled) = false: %v", err)
	}
	if readEvidence(t, b, "cleaned-up") != "yes" {
		t.Error("no cleanup on cancel")
	}
	if !strings.HasPrefix(err.Error(), "packer build tpl-x: canceled; last output:") {
		t.Errorf("message = %q", err)
	}
}

// gone reports whether pid has exited (no such process, or a zombie).
func gone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	ctx := testCtx(t)
	for !gone(pid) {
		select {
		case <-ctx.Done():
			t.Fatalf("process %d still running", pid)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func grandchildPID(t *testing.T, b Build) int {
	t.Helper()
	pid, err := strconv.Atoi(readEvidence(t, b, "grandchild.pid"))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestBuildGrandchildHoldingPipesAfterExit(t *testing.T) {
	r := fakeRunner(t)
	b := fakeBuild(t, "grandchild-exit0")
	out := &lockedBuffer{}
	b.Output = out
	res, err := r.Build(testCtx(t), b)
	if err != nil {
		t.Fatal(err)
	}
	if res.ArtifactID != "9000" || !strings.Contains(out.String(), "tpl-x: grandchild alive\n") {
		t.Errorf("result = %+v, output = %q", res, out)
	}
	waitGone(t, grandchildPID(t, b))
}

func TestBuildGrandchildHoldingPipesAfterCancel(t *testing.T) {
	r := fakeRunner(t)
	b := fakeBuild(t, "grandchild-hang")
	ctx, out := cancelOnOutput(t, "started")
	b.Output = out
	_, err := r.Build(ctx, b)
	if be := asBuildError(t, err); !be.Canceled || be.ExitCode != 1 {
		t.Fatalf("err = %v, want a cancel with exit code 1", err)
	}
	waitGone(t, grandchildPID(t, b))
}

func TestBuildProcessOutsideGroupHoldingPipes(t *testing.T) {
	r := fakeRunner(t)
	r.drainTimeout = 200 * time.Millisecond
	b := fakeBuild(t, "grandchild-escape")
	res, err := r.Build(testCtx(t), b)
	pid := grandchildPID(t, b)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if err != nil || res.ArtifactID != "9000" {
		t.Fatalf("Build = %+v, %v", res, err)
	}
	if gone(pid) {
		t.Error("the escaped process is gone: this test no longer tests an escapee")
	}
}

// countingWriter counts bytes and lines without keeping them.
type countingWriter struct{ bytes, lines int }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.bytes += len(p)
	c.lines += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

func TestBuildLargeOutputIsBounded(t *testing.T) {
	r := fakeRunner(t)
	b := fakeBuild(t, "flood")
	out := &countingWriter{}
	b.Output = out
	res, err := r.Build(testCtx(t), b)
	be := asBuildError(t, err)
	if len(res.Tail) > tailSize || len(res.Tail) < tailSize/2 {
		t.Errorf("tail is %d bytes, want at most %d and most of it", len(res.Tail), tailSize)
	}
	if !strings.HasSuffix(res.Tail, "\nthe last error\n") {
		t.Errorf("tail ends with %q", res.Tail[max(0, len(res.Tail)-100):])
	}
	// The 200 KiB line in 64 KiB pieces (4), 4096 "line N" lines, the error.
	if want := 4096 + 4 + 1; out.lines != want {
		t.Errorf("streamed %d lines, want %d", out.lines, want)
	}
	if out.bytes < 4<<20 {
		t.Errorf("streamed %d bytes, want all of the 4 MiB", out.bytes)
	}
	if !slices.Equal(be.Errors, []string{"the last error"}) {
		t.Errorf("Errors = %q", be.Errors)
	}
}

func TestBuildInvalid(t *testing.T) {
	r := fakeRunner(t)
	for name, b := range map[string]Build{
		"no name":       {Dir: t.TempDir()},
		"no dir":        {Name: "x"},
		"bad var":       {Name: "x", Dir: t.TempDir(), Vars: map[string]string{"a=b": "c"}},
		"bad env":       {Name: "x", Dir: t.TempDir(), Env: map[string]string{"A=B": "c"}},
		"missing dir":   {Name: "x", Dir: filepath.Join(t.TempDir(), "nope")},
		"missing image": {Name: "x", Dir: t.TempDir()},
	} {
		t.Run(name, func(t *testing.T) {
			rr := *r
			if name == "missing image" {
				rr.Packer = filepath.Join(t.TempDir(), "no-packer")
			}
			res, err := rr.Build(testCtx(t), b)
			if err == nil || res.ExitCode != -1 {
				t.Errorf("Build = %+v, %v; want an error and exit code -1", res, err)
			}
			var be *BuildError
			if errors.As(err, &be) {
				t.Errorf("a build that never ran is a *BuildError: %v", err)
			}
		})
	}
}

func TestBuildManifestRunUUID(t *testing.T) {
	r := fakeRunner(t)
	b := fakeBuild(t, "exit0")
	b.Manifest = "manifest.json"
	old := `{"builds":[{"name":"x","builder_type":"null","artifact_id":"8000","packer_run_uuid":"old"}],"last_run_uuid":"old"}`
	if err := os.WriteFile(filepath.Join(b.Dir, "manifest.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := r.Build(testCtx(t), b)
	if err != nil {
		t.Fatal(err)
	}
	if res.RunUUID != "" {
		t.Errorf("RunUUID = %q from a manifest this run did not write", res.RunUUID)
	}
}

func TestDedupEnvKeepsLast(t *testing.T) {
	got := dedupEnv([]string{"A=1", "B=2", "A=3", "C", "B=4"})
	if want := []string{"A=3", "B=4", "C"}; !slices.Equal(got, want) {
		t.Errorf("dedupEnv = %q, want %q", got, want)
	}
}

func TestVarsAreSorted(t *testing.T) {
	b := Build{Name: "x", Dir: "d", Vars: map[string]string{}}
	for i := range 50 {
		b.Vars["v"+strconv.Itoa(i)] = strconv.Itoa(i)
	}
	first, err := buildArgs(b)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _ := buildArgs(b)
		if !slices.Equal(first, again) {
			t.Fatalf("args differ between calls:\n%q\n%q", first, again)
		}
	}
	var keys []string
	for i := 4; i < len(first)-1; i += 2 {
		k, _, _ := strings.Cut(first[i], "=")
		keys = append(keys, k)
	}
	if !slices.IsSorted(keys) || len(keys) != 50 {
		t.Errorf("vars not sorted: %q", keys)
	}
}

var _ logrus.FieldLogger = (*logrus.Logger)(nil)

// waitFile waits for a file the fake writes, bounded by the test's context.
func waitFile(t *testing.T, path string) {
	t.Helper()
	ctx := testCtx(t)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never appeared", path)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// When templated dies (kill -9), Packer gets SIGINT (Pdeathsig) and cleans
// up its build VM instead of building on unattended.
func TestPackerCleansUpWhenTemplatedIsKilled(t *testing.T) {
	dir := t.TempDir()
	killTemplatedDuringBuild(t, dir)
	waitFile(t, filepath.Join(dir, "cleaned-up"))
}

// killTemplatedDuringBuild runs this test binary as templated (fake mode
// "templated") running a build, and kills it with SIGKILL once the build
// printed "started". extraEnv goes to the templated process.
func killTemplatedDuringBuild(t *testing.T, dir string, extraEnv ...string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	templated := exec.Command(exe)
	templated.Env = append([]string{"FAKE_PACKER=templated", "FAKE_DIR=" + dir, "PATH=" + os.Getenv("PATH"),
		"GORACE=atexit_sleep_ms=0", "HOME=" + os.Getenv("HOME")}, extraEnv...)
	if err := templated.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = templated.Process.Kill(); _ = templated.Wait() })
	waitFile(t, filepath.Join(dir, "packer-started"))
	if err := templated.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = templated.Wait()
}
