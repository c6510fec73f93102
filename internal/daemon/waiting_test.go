package daemon

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"templated/internal/state"
)

// twoProblems fails like workspace.LoadDesired on a file with two problems when the
// file holds "INVALID".
func twoProblems(path string) (*state.Desired, error) {
	if b, err := os.ReadFile(path); err == nil && string(b) == "INVALID" {
		return nil, errors.New(path + ":3:7: templates[0].vmid: 12 is below 100\n" + path + ":9:1: templates[1]: name is missing")
	}
	return loadTestDesired(path)
}

// checkWaiting asserts that the daemon waits for a valid desired file:
// no run, not ready, no READY=1, the status line naming want.
func checkWaiting(t *testing.T, h *harness, want string) {
	t.Helper()
	if n := h.rec.n(); n != 0 {
		t.Fatalf("%d runs without a valid desired file", n)
	}
	if ok, why := h.d.ready(time.Now()); ok || !strings.Contains(why, want) {
		t.Fatalf("ready = %v (%s), want not ready naming %q", ok, why, want)
	}
	if h.notify.readyCount() != 0 {
		t.Fatal("READY=1 sent without a valid desired file")
	}
	if got := h.notify.last(); !strings.HasPrefix(got, "waiting for a valid desired file: ") || !strings.Contains(got, want) {
		t.Fatalf("status line = %q, want waiting ... %q", got, want)
	}
	if st := h.d.Status(); st.State != phaseWaiting || st.Ready || st.Desired.Rejected == nil || len(st.Templates) != 0 {
		t.Fatalf("status = %+v", st)
	}
}

func TestInvalidDesiredAtStartWaitsForAValidFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.Load = twoProblems }, tplA)
		if err := os.WriteFile(h.path, []byte("INVALID"), 0o600); err != nil {
			t.Fatal(err)
		}
		h.start()
		synctest.Wait()
		checkWaiting(t, h, "templates[0].vmid: 12 is below 100")
		if strings.Contains(h.notify.last(), "name is missing") {
			t.Fatalf("status line names more than the first problem: %q", h.notify.last())
		}
		// The same content again (a change event, SIGHUP, the interval):
		// recorded once, still no run, still running.
		h.change()
		time.Sleep(time.Second)
		h.sighup()
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if rej, _, _ := h.ledger.snapshot(); len(rej) != 1 || rej[0] != fileSHA256(h.path) {
			t.Fatalf("rejections recorded = %v, want the one content once", rej)
		}
		checkWaiting(t, h, "12 is below 100")
		select {
		case err := <-h.done:
			t.Fatalf("Run returned %v while waiting", err)
		default:
		}

		// A valid file appears: loaded and reconciled at once.
		writeDesired(t, h.path, tplA, tplB)
		h.change()
		time.Sleep(time.Second)
		synctest.Wait()
		if n := h.rec.n(); n != 1 {
			t.Fatalf("runs after a valid file = %d, want 1", n)
		}
		if c := h.rec.get(0); len(c.req.Desired.Templates) != 2 || !c.req.Trigger.Has(ReasonFile) {
			t.Fatalf("request = %+v", c.req)
		}
		if ok, why := h.d.ready(time.Now()); !ok || h.notify.readyCount() != 1 {
			t.Fatalf("not ready after the valid file was reconciled: %s", why)
		}
		if st := h.d.Status(); st.State != phaseIdle || st.Desired.Rejected != nil || len(st.Templates) != 2 {
			t.Fatalf("status = %+v", st)
		}
		if err := h.stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

func TestMissingDesiredAtStartWaitsAndSIGHUPLoads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(o *Options) {
			o.Load = func(p string) (*state.Desired, error) {
				d, err := loadTestDesired(p)
				if err != nil {
					return nil, errors.Join(errors.New("read desired state"), err)
				}
				return d, nil
			}
		}, tplA)
		if err := os.Remove(h.path); err != nil {
			t.Fatal(err)
		}
		h.start()
		synctest.Wait()
		checkWaiting(t, h, "read desired state")
		h.sighup()
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		if rej, _, _ := h.ledger.snapshot(); len(rej) != 1 || rej[0] != "" {
			t.Fatalf("rejections recorded = %q, want the missing file once", rej)
		}
		checkWaiting(t, h, "read desired state")

		// The file appears without a change event (its directory was not
		// watchable); SIGHUP loads it.
		writeDesired(t, h.path, tplA)
		h.sighup()
		synctest.Wait()
		if n := h.rec.n(); n != 1 || !h.rec.get(0).req.Trigger.Has(ReasonReload) {
			t.Fatalf("runs after SIGHUP = %d", n)
		}
		if h.notify.readyCount() != 1 {
			t.Fatal("READY=1 not sent after the first run")
		}
		// A later bad file keeps the good state (the old behaviour).
		if err := os.WriteFile(h.path, []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
		h.change()
		time.Sleep(time.Second)
		synctest.Wait()
		if h.d.Desired() == nil || h.rec.n() != 1 || h.d.Status().State != phaseIdle {
			t.Fatalf("a bad change after a good state: state %q, %d runs", h.d.Status().State, h.rec.n())
		}
		if err := h.stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

func TestWaitingDaemonStopsCleanly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, tplA)
		if err := os.WriteFile(h.path, []byte("INVALID"), 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- h.d.Run(ctx) }()
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
		if st := h.d.Status().State; st != phaseStopped {
			t.Fatalf("state = %q", st)
		}
	})
}
