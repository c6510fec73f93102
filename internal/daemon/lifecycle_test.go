package daemon

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// realDaemon runs a daemon with the real DirWatcher over temp directories
// and an HTTP listener; calls counts the reconciles.
func realDaemon(t testing.TB, debounce time.Duration) (d *Daemon, path string, calls *atomic.Int64, stop func() error) {
	t.Helper()
	root := t.TempDir()
	desired, packer, stateDir := filepath.Join(root, "desired"), filepath.Join(root, "packer"), filepath.Join(root, "state")
	for _, p := range []string{desired, filepath.Join(packer, "linux"), stateDir} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path = filepath.Join(desired, "templates.yaml")
	if err := os.WriteFile(path, []byte(`[{"name":"tpl-a","vmid":9000}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	calls = &atomic.Int64{}
	rec := ReconcilerFunc(func(ctx context.Context, req Request) (Outcome, error) {
		req.Observed()
		calls.Add(1)
		return keepAll(req), nil
	})
	d, err := New(Options{
		DesiredPath: path, WatchDirs: []string{desired, packer}, StateDir: stateDir,
		Load: loadTestDesired, Reconciler: rec, Notifier: &fakeNotifier{},
		Listen: "127.0.0.1:0", Debounce: debounce,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stop = func() error {
		cancel()
		return <-done
	}
	return d, path, calls, stop
}

// TestNoGoroutineLeak runs the daemon with its real watcher and listener
// through a few file changes, stops it, and wants the goroutine count back
// where it was.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	d, path, calls, stop := realDaemon(t, 20*time.Millisecond)
	waitFor(t, "the first run", func() bool { return calls.Load() == 1 && d.Status().State == phaseIdle })
	idle := runtime.NumGoroutine() - before
	t.Logf("goroutines while idle: %d", idle)
	if idle > 12 {
		t.Errorf("%d goroutines while idle, want at most 12", idle)
	}
	for i := range 3 {
		if err := os.WriteFile(path, []byte(`[{"name":"tpl-a","vmid":900`+string(rune('1'+i))+`}]`), 0o600); err != nil {
			t.Fatal(err)
		}
		want := int64(i + 2)
		waitFor(t, "a run after the change", func() bool { return calls.Load() >= want })
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// BenchmarkChangeToReconcile measures the time from a write to the desired
// file to the start of the reconcile it triggers, with the default
// debounce (500 ms) and the real watcher.
func BenchmarkChangeToReconcile(b *testing.B) {
	_, path, calls, stop := realDaemon(b, DefaultDebounce)
	defer stop()
	for calls.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		n := calls.Load()
		if err := os.WriteFile(path, []byte(`[{"name":"tpl-a","vmid":`+string(rune('0'+i%10))+`}]`), 0o600); err != nil {
			b.Fatal(err)
		}
		for calls.Load() == n {
			time.Sleep(time.Millisecond)
		}
	}
}
