package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-version"
	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"
	logrustest "github.com/sirupsen/logrus/hooks/test"

	"templated/internal/state"
)

// testTemplate is one entry of the tests' desired files (JSON, parsed by
// loadTestDesired; the real YAML parser is workspace.LoadDesired's business).
type testTemplate struct {
	Name     string `json:"name"`
	VMID     int    `json:"vmid"`
	Cores    int    `json:"cores,omitempty"`
	Schedule string `json:"schedule,omitempty"`
	TZ       string `json:"tz,omitempty"`
}

// writeDesired writes a desired file for the tests.
func writeDesired(t *testing.T, path string, tpls ...testTemplate) {
	t.Helper()
	data, err := json.Marshal(tpls)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// loadTestDesired parses a test desired file; "INVALID" content fails with
// a validation error.
func loadTestDesired(path string) (*state.Desired, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tpls []testTemplate
	if err := json.Unmarshal(data, &tpls); err != nil {
		return nil, fmt.Errorf("%s: invalid: %w", path, err)
	}
	sum := sha256.Sum256(data)
	d := &state.Desired{Path: path, SHA256: hex.EncodeToString(sum[:])}
	for _, tp := range tpls {
		t := state.Template{Name: tp.Name, VMID: tp.VMID, Cores: tp.Cores, Release: version.Must(version.NewVersion("1.0.0"))}
		if tp.Schedule != "" {
			s, err := cron.ParseStandard(tp.Schedule)
			if err != nil {
				return nil, err
			}
			t.PatchSchedule, t.Schedule, t.Timezone = tp.Schedule, s, tp.TZ
			t.Location = time.UTC
			if tp.TZ != "" {
				if t.Location, err = time.LoadLocation(tp.TZ); err != nil {
					return nil, err
				}
			}
		}
		d.Templates = append(d.Templates, t)
	}
	return d, nil
}

type fakeWatcher struct{ ch chan string }

func newFakeWatcher() *fakeWatcher            { return &fakeWatcher{ch: make(chan string, 64)} }
func (f *fakeWatcher) Changes() <-chan string { return f.ch }
func (f *fakeWatcher) Close() error           { return nil }

type fakeNotifier struct {
	mu       sync.Mutex
	ready    int
	statuses []string
	wd       int
}

func (n *fakeNotifier) Ready() {
	n.mu.Lock()
	n.ready++
	n.mu.Unlock()
}

func (n *fakeNotifier) Status(s string) {
	n.mu.Lock()
	n.statuses = append(n.statuses, s)
	n.mu.Unlock()
}

func (n *fakeNotifier) Watchdog() {
	n.mu.Lock()
	n.wd++
	n.mu.Unlock()
}

func (n *fakeNotifier) last() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.statuses) == 0 {
		return ""
	}
	return n.statuses[len(n.statuses)-1]
}

func (n *fakeNotifier) readyCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ready
}

type fakeLedger struct {
	mu        sync.Mutex
	rejected  []string // sha256
	suspended []string
	released  []string // "name: why"
}

func (l *fakeLedger) RecordRejected(_ context.Context, _, sum string, _ error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rejected = append(l.rejected, sum)
	return nil
}

func (l *fakeLedger) RecordSuspended(_ context.Context, name, _ string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.suspended = append(l.suspended, name)
	return nil
}

func (l *fakeLedger) RecordReleased(_ context.Context, name, why string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.released = append(l.released, name+": "+why)
	return nil
}

func (l *fakeLedger) snapshot() (rejected, suspended, released []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.rejected...), append([]string(nil), l.suspended...), append([]string(nil), l.released...)
}

// call is one Reconcile call as the fake saw it.
type call struct {
	at  time.Time
	req Request
}

// fakeReconciler records calls and answers with fn (default: observed,
// every template kept).
type fakeReconciler struct {
	mu    sync.Mutex
	calls []call
	fn    func(ctx context.Context, req Request) (Outcome, error)
}

func (f *fakeReconciler) Reconcile(ctx context.Context, req Request) (Outcome, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call{at: time.Now(), req: req})
	fn := f.fn
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, req)
	}
	req.Observed()
	return keepAll(req), nil
}

func (f *fakeReconciler) setFn(fn func(ctx context.Context, req Request) (Outcome, error)) {
	f.mu.Lock()
	f.fn = fn
	f.mu.Unlock()
}

func (f *fakeReconciler) n() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeReconciler) get(i int) call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[i]
}

func (f *fakeReconciler) lastCall() call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[len(f.calls)-1]
}

func keepAll(req Request) Outcome {
	out := Outcome{Observed: true}
	for _, t := range req.Desired.Templates {
		a := ActionKeep
		if t.Suspended {
			a = ActionBlocked
		}
		out.Templates = append(out.Templates, TemplateOutcome{Name: t.Name, VMID: t.VMID, Action: a, Build: BuildNone, Drift: "none"})
	}
	return out
}

// harness is a daemon with fakes around it.
type harness struct {
	t      *testing.T
	dir    string
	path   string
	state  string
	watch  *fakeWatcher
	notify *fakeNotifier
	ledger *fakeLedger
	rec    *fakeReconciler
	reload chan struct{}
	abort  chan struct{}
	log    *logrustest.Hook
	d      *Daemon
	cancel context.CancelFunc
	done   chan error
}

// newHarness writes a desired file with tpls and builds a daemon; adjust
// changes its options before New.
func newHarness(t *testing.T, adjust func(*Options), tpls ...testTemplate) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{
		t: t, dir: dir, path: filepath.Join(dir, "templates.yaml"), state: filepath.Join(dir, "state"),
		watch: newFakeWatcher(), notify: &fakeNotifier{}, ledger: &fakeLedger{}, rec: &fakeReconciler{},
		reload: make(chan struct{}, 1), abort: make(chan struct{}),
	}
	if err := os.Mkdir(h.state, 0o700); err != nil {
		t.Fatal(err)
	}
	writeDesired(t, h.path, tpls...)
	h.d = h.newDaemon(adjust)
	return h
}

func (h *harness) newDaemon(adjust func(*Options)) *Daemon {
	h.t.Helper()
	logger, hook := logrustest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	h.log = hook
	o := Options{
		DesiredPath: h.path, StateDir: h.state, Load: loadTestDesired, Reconciler: h.rec,
		Ledger: h.ledger, Notifier: h.notify, Watcher: h.watch, Reload: h.reload, Abort: h.abort,
		Log: logger, Interval: time.Hour, Debounce: 500 * time.Millisecond,
		Backoff: Backoff{Initial: time.Second, Max: 8 * time.Second},
	}
	if adjust != nil {
		adjust(&o)
	}
	d, err := New(o)
	if err != nil {
		h.t.Fatal(err)
	}
	return d
}

// start runs the daemon in the background.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	done := make(chan error, 1)
	h.done = done
	go func() { done <- h.d.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			done <- err // for stop
		case <-h.abort:
		}
	})
}

// stop cancels the daemon and returns Run's error.
func (h *harness) stop() error {
	h.cancel()
	err := <-h.done
	h.done <- err
	return err
}

func (h *harness) change() { h.watch.ch <- h.path }

func (h *harness) sighup() { h.reload <- struct{}{} }

// failBuilds makes every run fail the build of the named templates.
func failBuilds(names ...string) func(ctx context.Context, req Request) (Outcome, error) {
	return func(_ context.Context, req Request) (Outcome, error) {
		req.Observed()
		out := keepAll(req)
		var errs []error
		for i, o := range out.Templates {
			for _, n := range names {
				if o.Name == n && o.Action != ActionBlocked {
					out.Templates[i].Action, out.Templates[i].Build = ActionRebuild, BuildFailure
					out.Templates[i].Error = "packer exited 1"
					errs = append(errs, fmt.Errorf("build %s: packer exited 1", n))
				}
			}
		}
		return out, errors.Join(errs...)
	}
}
