package daemon

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"templated/internal/redact"
	"templated/internal/state"
)

var tplA = testTemplate{Name: "tpl-a", VMID: 9000, Cores: 2}
var tplB = testTemplate{Name: "tpl-b", VMID: 9001, Cores: 2}

func TestStartReconcilesOnceAndBecomesReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, tplA)
		h.start()
		synctest.Wait()
		if n := h.rec.n(); n != 1 {
			t.Fatalf("runs after start = %d, want 1", n)
		}
		c := h.rec.get(0)
		if !c.req.Trigger.Has(ReasonStart) || len(c.req.Desired.Templates) != 1 || len(c.req.Suspended) != 0 {
			t.Fatalf("first request = %+v", c.req)
		}
		if h.notify.readyCount() != 1 {
			t.Fatalf("READY sent %d times, want 1", h.notify.readyCount())
		}
		if got := h.notify.last(); !strings.HasPrefix(got, "idle") {
			t.Fatalf("status = %q, want idle...", got)
		}
		if err := h.stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

func TestReadyOnlyAfterObservation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, tplA)
		gate := make(chan struct{})
		h.rec.setFn(func(ctx context.Context, req Request) (Outcome, error) {
			<-gate
			req.Observed()
			<-gate
			return keepAll(req), nil
		})
		h.start()
		synctest.Wait()
		if h.notify.readyCount() != 0 {
			t.Fatal("READY before the cluster was observed")
		}
		if ok, _ := h.d.ready(time.Now()); ok {
			t.Fatal("ready before the cluster was observed")
		}
		if got := h.notify.last(); got != "reconciling (start)" {
			t.Fatalf("status = %q", got)
		}
		gate <- struct{}{}
		synctest.Wait()
		if h.notify.readyCount() != 1 {
			t.Fatal("READY not sent once the cluster was observed, while the run goes on")
		}
		if ok, why := h.d.ready(time.Now()); !ok {
			t.Fatalf("not ready during the run after the observation: %s", why)
		}
		close(gate)
		synctest.Wait()
		// No run for longer than ReadyStale (3h with a 1h interval can't
		// happen: the interval runs); a failing observation makes it unready.
		h.rec.setFn(func(ctx context.Context, req Request) (Outcome, error) {
			return Outcome{}, errors.New("dial tcp: connection refused")
		})
		h.sighup()
		synctest.Wait()
		if ok, _ := h.d.ready(time.Now()); ok {
			t.Fatal("still ready after a failed observation")
		}
		h.stop()
	})
}

func TestDebounceFiveWritesOneRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, tplA)
		h.start()
		synctest.Wait()
		for i := range 5 {
			if i == 4 {
				writeDesired(t, h.path, tplA, tplB)
			}
			h.change()
			time.Sleep(100 * time.Millisecond)
		}
		synctest.Wait()
		if n := h.rec.n(); n != 1 {
			t.Fatalf("runs before the debounce elapsed = %d, want 1", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := h.rec.n(); n != 2 {
			t.Fatalf("runs after 5 writes = %d, want 2 (start + one)", n)
		}
		c := h.rec.lastCall()
		if !slices.Equal(c.req.Trigger.Reasons, []Reason{ReasonFile}) {
			t.Fatalf("trigger = %v", c.req.Trigger)
		}
		if len(c.req.Desired.Templates) != 2 {
			t.Fatalf("desired not reloaded: %d templates", len(c.req.Desired.Templates))
		}
		h.stop()
	})
}

func TestDebounceSteadyStreamStillTriggers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, tplA)
		h.start()
		synctest.Wait()
		// A change every 400ms for 10s: the quiet period never comes, the
		// max wait (10 × debounce) does.
		for range 25 {
			h.change()
			time.Sleep(400 * time.Millisecond)
		}
		synctest.Wait()
		// Changes at 0.0 … 9.6 s: the first window hits the max wait at
		// 5.0 s; the second (from 5.2 s) ends 0.5 s after the last change.
		if n := h.rec.n(); n != 2 {
			t.Fatalf("runs after 10 s of changes = %d, want 2 (start + max wait)", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := h.rec.n(); n != 3 {
			t.Fatalf("runs after the changes stopped = %d, want 3", n)
		}
		h.stop()
	})
}

func TestTriggersDuringARunCoalesce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, tplA)
		h.start()
		synctest.Wait()
		gate := make(chan struct{})
		h.rec.setFn(func(ctx context.Context, req Request) (Outcome, error) {
			req.Observed()
			<-gate
			return keepAll(req), nil
		})
		h.sighup() // run 2, blocks on gate
		synctest.Wait()
		if n := h.rec.n(); n != 2 {
			t.Fatalf("runs = %d, want 2", n)
		}
		// During run 2: a file change, a SIGHUP, a patch schedule.
		h.change()
		time.Sleep(time.Second)
		h.sighup()
		h.d.q.add(Trigger{Reasons: []Reason{ReasonSchedule}, Due: []string{"tpl-a"}})
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := h.rec.n(); n != 2 {
			t.Fatalf("a second run overlapped: %d runs", n)
		}
		h.rec.setFn(nil)
		close(gate)
		synctest.Wait()
		if n := h.rec.n(); n != 3 {
			t.Fatalf("runs after the blocked one = %d, want exactly 3", n)
		}
		tr := h.rec.get(2).req.Trigger
		for _, r := range []Reason{ReasonFile, ReasonReload, ReasonSchedule} {
			if !tr.Has(r) {
				t.Errorf("coalesced trigger %v lacks %q", tr, r)
			}
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := h.rec.n(); n != 3 {
			t.Fatalf("runs = %d, want still 3", n)
		}
		h.stop()
	})
}

func TestIntervalSafetyNet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.Interval = 10 * time.Minute }, tplA)
		h.start()
		synctest.Wait()
		time.Sleep(35 * time.Minute)
		synctest.Wait()
		if n := h.rec.n(); n != 4 {
			t.Fatalf("runs in 35 min with a 10 min interval = %d, want 4", n)
		}
		if !h.rec.lastCall().req.Trigger.Has(ReasonInterval) {
			t.Fatalf("trigger = %v", h.rec.lastCall().req.Trigger)
		}
		h.stop()
	})
}

func TestPatchScheduleHonoursTimeZone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// synctest's clock starts at 2000-01-01 00:00 UTC. New York is at
		// UTC-5 in January: 03:00 there is 08:00 UTC.
		ny := testTemplate{Name: "tpl-ny", VMID: 9000, Schedule: "0 3 * * *", TZ: "America/New_York"}
		utc := testTemplate{Name: "tpl-utc", VMID: 9001, Schedule: "0 3 * * *", TZ: "UTC"}
		h := newHarness(t, func(o *Options) { o.Interval = 100 * time.Hour }, ny, utc)
		start := time.Now()
		h.start()
		synctest.Wait()
		if got := h.notify.last(); !strings.Contains(got, "next patch rebuild tpl-utc at 2000-01-01 03:00 UTC") {
			t.Fatalf("status = %q", got)
		}
		scheduled := func() []call {
			var out []call
			for i := range h.rec.n() {
				if c := h.rec.get(i); c.req.Trigger.Has(ReasonSchedule) {
					out = append(out, c)
				}
			}
			return out
		}
		time.Sleep(3*time.Hour + time.Second)
		synctest.Wait()
		s := scheduled()
		if len(s) != 1 || !slices.Equal(s[0].req.Trigger.Due, []string{"tpl-utc"}) || s[0].at.Sub(start) != 3*time.Hour {
			t.Fatalf("after 03:00 UTC: scheduled runs = %+v", s)
		}
		time.Sleep(5*time.Hour - 2*time.Second) // 07:59:59 UTC
		synctest.Wait()
		if len(scheduled()) != 1 {
			t.Fatal("tpl-ny fired before 03:00 New York time")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		s = scheduled()
		if len(s) != 2 || !slices.Equal(s[1].req.Trigger.Due, []string{"tpl-ny"}) || s[1].at.Sub(start) != 8*time.Hour {
			t.Fatalf("after 08:00 UTC: scheduled runs = %+v", s)
		}
		h.stop()
	})
}

func TestScheduleRebuiltOnReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.Interval = 100 * time.Hour }, tplA)
		h.start()
		synctest.Wait()
		writeDesired(t, h.path, testTemplate{Name: "tpl-a", VMID: 9000, Schedule: "30 1 * * *", TZ: "UTC"})
		h.change()
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		c := h.rec.lastCall()
		if !c.req.Trigger.Has(ReasonSchedule) || c.at.Format("15:04") != "01:30" {
			t.Fatalf("last run %v at %s, want the patch schedule at 01:30", c.req.Trigger, c.at)
		}
		h.stop()
	})
}

func TestBackoffWhileUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.Interval = 100 * time.Hour }, tplA)
		unreachable := func(ctx context.Context, req Request) (Outcome, error) {
			return Outcome{}, Unreachable(errors.New("get /cluster/resources: dial tcp 10.0.0.1:8006: connection refused"))
		}
		h.rec.setFn(unreachable)
		h.start()
		time.Sleep(40 * time.Second)
		synctest.Wait()
		// Delays: [0.5,1] [1,2] [2,4] [4,8] [4,8] [4,8] ...
		ceil := []time.Duration{1, 2, 4, 8, 8, 8}
		n := h.rec.n()
		if n < 6 {
			t.Fatalf("only %d attempts in 40s", n)
		}
		for i := 1; i < 6; i++ {
			gap := h.rec.get(i).at.Sub(h.rec.get(i - 1).at)
			c := ceil[i-1] * time.Second
			if gap < c/2 || gap > c {
				t.Errorf("retry %d after %s, want within [%s, %s]", i, gap, c/2, c)
			}
			if !h.rec.get(i).req.Trigger.Has(ReasonRetry) {
				t.Errorf("retry %d trigger = %v", i, h.rec.get(i).req.Trigger)
			}
		}
		if got := h.notify.last(); !strings.HasPrefix(got, "Proxmox unreachable; retry in ") {
			t.Fatalf("status = %q", got)
		}
		if h.notify.readyCount() != 0 {
			t.Fatal("READY while the cluster was never observed")
		}
		if st := h.d.Status(); st.State != phaseBackoff || st.NextRetry.IsZero() {
			t.Fatalf("status = %+v", st)
		}

		// Success resets the backoff: the next failure waits [0.5s, 1s].
		h.rec.setFn(nil)
		time.Sleep(9 * time.Second)
		synctest.Wait()
		if !strings.HasPrefix(h.notify.last(), "idle") {
			t.Fatalf("status after success = %q", h.notify.last())
		}
		h.rec.setFn(unreachable)
		h.sighup()
		synctest.Wait()
		first := h.rec.lastCall().at
		time.Sleep(time.Second)
		synctest.Wait()
		gap := h.rec.lastCall().at.Sub(first)
		if gap < 500*time.Millisecond || gap > time.Second {
			t.Fatalf("first retry after a success came after %s, want [0.5s, 1s]", gap)
		}
		h.stop()
	})
}

// A rejected desired file saved while the daemon backs off does not cancel
// the pending retry.
func TestRejectedFileKeepsPendingRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.Interval = 100 * time.Hour }, tplA)
		h.rec.setFn(func(context.Context, Request) (Outcome, error) {
			return Outcome{}, Unreachable(errors.New("dial tcp 10.0.0.1:8006: connection refused"))
		})
		h.start()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		before := h.rec.n()
		if err := os.WriteFile(h.path, []byte("INVALID"), 0o600); err != nil {
			t.Fatal(err)
		}
		h.change()
		time.Sleep(10 * time.Second) // the pending retry is due within 8 s
		synctest.Wait()
		if h.rec.n() == before {
			t.Fatalf("no retry in the 10 s after a rejected file (runs %d before and after)", before)
		}
		h.stop()
	})
}

func TestBackoffBounds(t *testing.T) {
	cfg := Backoff{Initial: time.Second, Max: 30 * time.Second}
	for _, tc := range []struct {
		name string
		rnd  func(n int64) int64
		want []time.Duration
	}{
		{"lowest", func(int64) int64 { return 0 }, []time.Duration{500, 1000, 2000, 4000, 8000, 15000, 15000}},
		{"highest", func(n int64) int64 { return n - 1 }, []time.Duration{1000, 2000, 4000, 8000, 16000, 30000, 30000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackoff(cfg)
			b.int64n = tc.rnd
			for i, w := range tc.want {
				if got := b.next(); got != w*time.Millisecond {
					t.Fatalf("delay %d = %s, want %s", i, got, w*time.Millisecond)
				}
			}
			b.reset()
			if got := b.next(); got != tc.want[0]*time.Millisecond {
				t.Fatalf("after reset: %s", got)
			}
		})
	}
	t.Run("jitter spreads", func(t *testing.T) {
		b := newBackoff(cfg)
		seen := map[time.Duration]bool{}
		for range 200 {
			b.reset()
			b.n = 3 // ceiling 8s
			d := b.next()
			if d < 4*time.Second || d > 8*time.Second {
				t.Fatalf("delay %s outside [4s, 8s]", d)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Fatalf("only %d distinct delays in 200: no jitter", len(seen))
		}
	})
}

func TestFailuresSuspendAndEntryChangeReleases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.FailureLimit = 3 }, tplA, tplB)
		h.rec.setFn(failBuilds("tpl-a"))
		h.start()
		synctest.Wait()
		h.sighup()
		synctest.Wait()
		if _, sus, _ := h.ledger.snapshot(); len(sus) != 0 {
			t.Fatalf("suspended after 2 failures: %v", sus)
		}
		h.sighup()
		synctest.Wait()
		if _, sus, _ := h.ledger.snapshot(); !slices.Equal(sus, []string{"tpl-a"}) {
			t.Fatalf("suspensions recorded = %v, want [tpl-a]", sus)
		}
		h.sighup()
		synctest.Wait()
		c := h.rec.lastCall()
		if _, ok := c.req.Suspended["tpl-a"]; !ok || len(c.req.Suspended) != 1 {
			t.Fatalf("4th run Suspended = %v", c.req.Suspended)
		}
		for _, tp := range c.req.Desired.Templates {
			if tp.Suspended != (tp.Name == "tpl-a") {
				t.Fatalf("template %s Suspended = %v", tp.Name, tp.Suspended)
			}
		}
		st := h.d.Status()
		if !st.Templates[0].Suspended || st.Templates[0].ConsecutiveFailedBuilds != 3 || st.Templates[0].LastResult != "failure" {
			t.Fatalf("status of tpl-a = %+v", st.Templates[0])
		}
		if !strings.Contains(h.notify.last(), "1 template(s) suspended") {
			t.Fatalf("status line = %q", h.notify.last())
		}
		on, err := Suspensions(h.state)
		if err != nil || !on["tpl-a"].Suspended {
			t.Fatalf("persisted suspensions = %v, %v", on, err)
		}
		// The desired entry changes: released, and built again.
		writeDesired(t, h.path, testTemplate{Name: "tpl-a", VMID: 9000, Cores: 4}, tplB)
		h.change()
		time.Sleep(time.Second)
		synctest.Wait()
		c = h.rec.lastCall()
		if len(c.req.Suspended) != 0 {
			t.Fatalf("still suspended after the entry changed: %v", c.req.Suspended)
		}
		if _, _, rel := h.ledger.snapshot(); !slices.Equal(rel, []string{"tpl-a: desired entry changed"}) {
			t.Fatalf("releases = %v", rel)
		}
		h.stop()
	})
}

func TestSuspensionSurvivesRestartAndResumeReleases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.FailureLimit = 2 }, tplA)
		h.rec.setFn(failBuilds("tpl-a"))
		h.start()
		synctest.Wait()
		h.sighup()
		synctest.Wait()
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}
		// A new daemon on the same state directory.
		h.d = h.newDaemon(func(o *Options) { o.FailureLimit = 2 })
		h.rec.setFn(nil)
		h.start()
		synctest.Wait()
		if c := h.rec.lastCall(); c.req.Suspended["tpl-a"] == "" {
			t.Fatalf("suspension lost across restart: %v", c.req.Suspended)
		}
		found, err := Resume(h.state, "tpl-a")
		if err != nil || !found {
			t.Fatalf("Resume = %v, %v", found, err)
		}
		if found, _ := Resume(h.state, "tpl-a"); found {
			t.Fatal("Resume found the suspension twice")
		}
		h.sighup()
		synctest.Wait()
		if c := h.rec.lastCall(); len(c.req.Suspended) != 0 {
			t.Fatalf("still suspended after resume: %v", c.req.Suspended)
		}
		if _, _, rel := h.ledger.snapshot(); !slices.Contains(rel, "tpl-a: resumed by operator") {
			t.Fatalf("releases = %v", rel)
		}
		h.stop()
	})
}

func TestSuccessResetsFailureCountAndInputsChangeReleases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.FailureLimit = 2 }, tplA)
		inputs := "aaaa"
		fail := true
		h.rec.setFn(func(ctx context.Context, req Request) (Outcome, error) {
			req.Observed()
			out := keepAll(req)
			out.Templates[0].InputsHash = inputs
			if fail && out.Templates[0].Action != ActionBlocked {
				out.Templates[0].Build, out.Templates[0].Error = BuildFailure, "boom"
				return out, errors.New("build tpl-a: boom")
			}
			if !fail && out.Templates[0].Action != ActionBlocked {
				out.Templates[0].Build = BuildSuccess
			}
			return out, nil
		})
		h.start() // failure 1
		synctest.Wait()
		fail = false
		h.sighup() // success: count reset
		synctest.Wait()
		fail = true
		h.sighup() // failure 1 again
		synctest.Wait()
		if on, _ := Suspensions(h.state); on["tpl-a"].Suspended || on["tpl-a"].Failures != 1 {
			t.Fatalf("after fail, success, fail: %+v", on["tpl-a"])
		}
		h.sighup() // failure 2: suspended
		synctest.Wait()
		if on, _ := Suspensions(h.state); !on["tpl-a"].Suspended {
			t.Fatalf("not suspended: %+v", on["tpl-a"])
		}
		// The Packer files change (the reconciler reports other inputs for
		// the blocked template): released, and a run follows at once.
		inputs = "bbbb"
		fail = false
		n := h.rec.n()
		h.sighup()
		synctest.Wait()
		if h.rec.n() != n+2 || len(h.rec.lastCall().req.Suspended) != 0 || !h.rec.lastCall().req.Trigger.Has(ReasonResume) {
			t.Fatalf("after the inputs changed: %d runs, last %+v", h.rec.n()-n, h.rec.lastCall().req)
		}
		h.stop()
	})
}

func TestInvalidDesiredRejectedOldStateKept(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, tplA)
		h.start()
		synctest.Wait()
		good := h.d.Desired()
		if err := os.WriteFile(h.path, []byte("INVALID"), 0o600); err != nil {
			t.Fatal(err)
		}
		h.change()
		time.Sleep(time.Second)
		synctest.Wait()
		if n := h.rec.n(); n != 1 {
			t.Fatalf("a rejected file led to a run: %d runs", n)
		}
		if h.d.Desired() != good {
			t.Fatal("desired state replaced by a rejected file")
		}
		rej, _, _ := h.ledger.snapshot()
		if len(rej) != 1 || rej[0] != fileSHA256(h.path) {
			t.Fatalf("rejections recorded = %v", rej)
		}
		st := h.d.Status()
		if st.Desired.Rejected == nil || st.Desired.SHA256 != good.SHA256 {
			t.Fatalf("status desired = %+v", st.Desired)
		}
		if !strings.Contains(h.notify.last(), "desired file rejected") {
			t.Fatalf("status line = %q", h.notify.last())
		}
		// The same bad content again: not recorded twice. A scheduled or
		// interval run still works with the last good state.
		h.change()
		time.Sleep(time.Second)
		h.sighup()
		synctest.Wait()
		if rej, _, _ := h.ledger.snapshot(); len(rej) != 1 {
			t.Fatalf("rejections recorded = %v, want 1", rej)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if c := h.rec.lastCall(); !c.req.Trigger.Has(ReasonInterval) || c.req.Desired.SHA256 != good.SHA256 {
			t.Fatalf("interval run = %+v", c.req)
		}
		// Restored: in force again, rejection cleared.
		writeDesired(t, h.path, tplA, tplB)
		h.change()
		time.Sleep(time.Second)
		synctest.Wait()
		if c := h.rec.lastCall(); len(c.req.Desired.Templates) != 2 || h.d.Status().Desired.Rejected != nil {
			t.Fatalf("after a valid file: %d templates, rejected %+v", len(c.req.Desired.Templates), h.d.Status().Desired.Rejected)
		}
		h.stop()
	})
}

func TestStopCancelsTheRunInFlightAndStartsNoOther(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, tplA)
		cancelled := false
		h.rec.setFn(func(ctx context.Context, req Request) (Outcome, error) {
			req.Observed()
			<-ctx.Done()
			cancelled = true
			time.Sleep(30 * time.Second) // Packer's grace period
			// The interrupted build reports a failure; it must not count.
			out := keepAll(req)
			out.Templates[0].Build, out.Templates[0].Error = BuildFailure, "signal: interrupt"
			return out, errors.New("build tpl-a: packer: signal: interrupt")
		})
		h.start()
		synctest.Wait()
		h.change()
		h.sighup()
		synctest.Wait()
		begin := time.Now()
		if err := h.stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}
		if !cancelled || time.Since(begin) != 30*time.Second {
			t.Fatalf("Run returned after %s, cancelled=%v: want after the run in flight ended", time.Since(begin), cancelled)
		}
		if n := h.rec.n(); n != 1 {
			t.Fatalf("runs = %d: a pending trigger started a run after the stop", n)
		}
		if got := h.d.Status().State; got != phaseStopped {
			t.Fatalf("state = %q", got)
		}
		if on, _ := Suspensions(h.state); len(on) != 0 {
			t.Fatalf("the interrupted build counted as a failure: %+v", on)
		}
	})
}

func TestAbortReturnsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, tplA)
		release := make(chan struct{})
		h.rec.setFn(func(ctx context.Context, req Request) (Outcome, error) {
			<-release // ignores ctx: a stuck build
			return Outcome{}, nil
		})
		h.start()
		synctest.Wait()
		h.cancel()
		synctest.Wait()
		close(h.abort)
		if err := <-h.done; !errors.Is(err, ErrAborted) {
			t.Fatalf("Run = %v, want ErrAborted", err)
		}
		close(release)
	})
}

func TestWatchdogPings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := &watchdogNotifier{}
		h := newHarness(t, func(o *Options) { o.Notifier = n }, tplA)
		h.start()
		time.Sleep(95 * time.Second)
		synctest.Wait()
		n.mu.Lock()
		got := n.wd
		n.mu.Unlock()
		if got != 4 { // at 0, 30, 60, 90 s
			t.Fatalf("watchdog pings in 95s at a 30s interval = %d, want 4", got)
		}
		h.stop()
	})
}

type watchdogNotifier struct{ fakeNotifier }

func (*watchdogNotifier) WatchdogInterval() time.Duration { return 30 * time.Second }

func TestOnReloadHookAndStatusMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reloads := 0
		h := newHarness(t, func(o *Options) {
			o.OnReload = func(context.Context) error { reloads++; return errors.New("bad env file") }
		}, tplA)
		h.start()
		synctest.Wait()
		h.sighup()
		synctest.Wait()
		if reloads != 1 || h.rec.n() != 2 {
			t.Fatalf("reload hook calls = %d, runs = %d", reloads, h.rec.n())
		}
		found := false
		for _, e := range h.log.AllEntries() {
			if e.Message == "reload configuration" && e.Data["error"] != nil {
				found = true
			}
		}
		if !found {
			t.Fatal("the hook's error was not logged")
		}
		h.stop()
	})
}

func TestRunFailureWithoutUnreachableDoesNotRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, tplA)
		h.rec.setFn(failBuilds("tpl-a"))
		h.start()
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if n := h.rec.n(); n != 1 {
			t.Fatalf("a build failure was retried: %d runs in 30 min", n)
		}
		if got := h.notify.last(); !strings.HasPrefix(got, "idle; last run failed: build tpl-a") {
			t.Fatalf("status = %q", got)
		}
		// An error marked Unreachable after the observation backs off.
		h.rec.setFn(func(ctx context.Context, req Request) (Outcome, error) {
			req.Observed()
			return Outcome{Observed: true}, Unreachable(errors.New("delete 9000: 500 internal error"))
		})
		h.sighup()
		synctest.Wait()
		if got := h.notify.last(); !strings.HasPrefix(got, "Proxmox unreachable") {
			t.Fatalf("status = %q", got)
		}
		h.stop()
	})
}

// An error before the observation that is not about Proxmox (Packer
// missing) is a failed run, not "Proxmox unreachable": no backoff retries,
// and the daemon is not ready.
func TestLocalErrorBeforeObservationIsAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(o *Options) { o.Interval = 100 * time.Hour }, tplA)
		h.rec.setFn(func(context.Context, Request) (Outcome, error) {
			return Outcome{}, errors.New(`packer version: exec: "packer": executable file not found in $PATH`)
		})
		h.start()
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if n := h.rec.n(); n != 1 {
			t.Fatalf("a local failure was retried like an unreachable cluster: %d runs", n)
		}
		if got := h.notify.last(); !strings.HasPrefix(got, "idle; last run failed: packer version") {
			t.Fatalf("status = %q", got)
		}
		if ok, _ := h.d.ready(time.Now()); ok {
			t.Fatal("ready without ever observing the cluster")
		}
		h.stop()
	})
}

func TestDesiredLoaderPanicIsARejection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, loadFailingOn("PANIC", func() (*state.Desired, error) { panic("parser bug") }), tplA)
		h.start()
		synctest.Wait()
		good := h.d.Desired()
		if err := os.WriteFile(h.path, []byte("PANIC"), 0o600); err != nil {
			t.Fatal(err)
		}
		h.change()
		time.Sleep(time.Second)
		synctest.Wait()
		if h.d.Desired() != good {
			t.Fatal("desired state replaced by a file whose parse panicked")
		}
		rej, _, _ := h.ledger.snapshot()
		if len(rej) != 1 {
			t.Fatalf("rejections recorded = %v, want 1", rej)
		}
		if r := h.d.Status().Desired.Rejected; r == nil || !strings.Contains(r.Error, "parser panicked: parser bug") {
			t.Fatalf("status rejection = %+v", r)
		}
		if err := h.stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

// A panicking run is a failed run: the daemon stays up, says so, and runs
// again at the next trigger.
func TestReconcilePanicIsAFailedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, tplA)
		h.rec.setFn(func(context.Context, Request) (Outcome, error) { panic("reconciler bug") })
		h.start()
		synctest.Wait()
		if got := h.notify.last(); !strings.HasPrefix(got, "idle; last run failed: internal error: reconcile panicked: reconciler bug") {
			t.Fatalf("status = %q", got)
		}
		h.rec.setFn(nil)
		h.sighup()
		synctest.Wait()
		if n := h.rec.n(); n != 2 {
			t.Fatalf("runs = %d, want 2 (the panicked one and the next)", n)
		}
		if ok, _ := h.d.ready(time.Now()); !ok {
			t.Fatal("not ready after a good run that followed the panic")
		}
		if err := h.stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

// TestRejectionErrorBounded: however long a desired file's error, what it
// brings into /status (and the log and the ledger) is bounded.
func TestRejectionErrorBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, loadFailingOn("HUGE", func() (*state.Desired, error) {
			return nil, errors.New(strings.Repeat("templates[0].x: unknown key\n", 200000))
		}), tplA)
		h.start()
		synctest.Wait()
		if err := os.WriteFile(h.path, []byte("HUGE"), 0o600); err != nil {
			t.Fatal(err)
		}
		h.change()
		time.Sleep(time.Second)
		synctest.Wait()
		r := h.d.Status().Desired.Rejected
		if r == nil || len(r.Error) > redact.MaxErrorText+100 || !strings.HasSuffix(r.Error, "more bytes)") {
			t.Fatalf("status rejection of %d bytes", len(r.Error))
		}
		if err := h.stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

// loadFailingOn makes the daemon's loader call fail for a desired file
// holding marker, and load the test format otherwise.
func loadFailingOn(marker string, fail func() (*state.Desired, error)) func(*Options) {
	return func(o *Options) {
		o.Load = func(path string) (*state.Desired, error) {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			if strings.Contains(string(data), marker) {
				return fail()
			}
			return loadTestDesired(path)
		}
	}
}

// TestRevisionNotDebounced: a new git revision runs at once, re-reading
// the desired file even when its bytes did not change (the revision
// brings its own workspace).
func TestRevisionNotDebounced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		loads := 0
		h := newHarness(t, func(o *Options) {
			o.ChangeReason, o.Debounce = ReasonRevision, time.Hour
			o.Load = func(path string) (*state.Desired, error) { loads++; return loadTestDesired(path) }
		}, tplA)
		h.start()
		synctest.Wait()
		before := loads
		h.change()
		synctest.Wait()
		if n := h.rec.n(); n != 2 {
			t.Fatalf("runs = %d, want 2 (start + the revision, no debounce)", n)
		}
		if c := h.rec.lastCall(); !c.req.Trigger.Has(ReasonRevision) {
			t.Fatalf("trigger %v", c.req.Trigger)
		}
		if loads != before+1 {
			t.Fatalf("desired file loaded %d times for an unchanged file, want 1", loads-before)
		}
		h.stop()
	})
}

// TestRunFailureStateLineBounded: a long error (Packer's, joined over
// several templates) is cut in the one-line state (systemd's STATUS, the
// page's heading) and kept whole in the last run.
func TestRunFailureStateLineBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		long := "build tpl-a: " + strings.Repeat("Error creating VM: clone failed: storage 'local-lvm' is full; ", 20)
		h := newHarness(t, nil, tplA)
		h.rec.setFn(func(ctx context.Context, req Request) (Outcome, error) {
			req.Observed()
			return keepAll(req), errors.New(long)
		})
		h.start()
		synctest.Wait()
		got := h.notify.last()
		if !strings.HasPrefix(got, "idle; last run failed: build tpl-a: Error creating VM") || len(got) > 400 || !strings.Contains(got, "more bytes)") {
			t.Fatalf("state line (%d bytes) = %q", len(got), got)
		}
		if st := h.d.Status(); st.LastRun == nil || st.LastRun.Error != long {
			t.Fatalf("last run error not kept whole: %+v", st.LastRun)
		}
		h.stop()
	})
}
