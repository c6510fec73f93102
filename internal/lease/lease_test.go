package lease_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/lease"
	"templated/internal/proxmox/proxmoxtest"
)

const vmid = 9949

// eachCluster runs fn against the in-memory fake and against the
// simulator over HTTP through the real adapter.
func eachCluster(t *testing.T, fn func(t *testing.T, h proxmoxtest.Harness, c lease.Cluster)) {
	t.Run("fake", func(t *testing.T) {
		h := proxmoxtest.NewFakeHarness(t)
		fn(t, h, h.Cluster().(lease.Cluster))
	})
	t.Run("sim", func(t *testing.T) {
		h := proxmoxtest.NewSimHarness(t, proxmoxtest.SimOptions{TaskDuration: 2 * time.Millisecond})
		fn(t, h, h.Client)
	})
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func opts(h proxmoxtest.Harness, holder string, pid int) lease.Options {
	return lease.Options{Node: h.Node(), VMID: vmid, Holder: holder, Host: "ctl-" + holder, PID: pid,
		TTL: time.Minute, Poll: 5 * time.Millisecond}
}

// optsAt is opts on clock clk.
func optsAt(h proxmoxtest.Harness, holder string, pid int, clk *clock) lease.Options {
	o := opts(h, holder, pid)
	o.Now = clk.Now
	return o
}

func acquire(t *testing.T, c lease.Cluster, o lease.Options) *lease.Lease {
	t.Helper()
	l, err := lease.Acquire(t.Context(), c, o)
	if err != nil {
		t.Fatalf("acquire as %s: %v", o.Holder, err)
	}
	return l
}

// onCluster reads who the lease guest names.
func onCluster(t *testing.T, c lease.Cluster, h proxmoxtest.Harness) (lease.Holder, bool) {
	t.Helper()
	gc, err := c.GuestConfig(t.Context(), h.Node(), vmid)
	if err != nil {
		return lease.Holder{}, false
	}
	return lease.ParseHolder(gc.Description)
}

func TestAcquireRenewRelease(t *testing.T) {
	eachCluster(t, func(t *testing.T, h proxmoxtest.Harness, c lease.Cluster) {
		clk := newClock()
		l := acquire(t, c, optsAt(h, "inst-a", 100, clk))
		gc, err := c.GuestConfig(t.Context(), h.Node(), vmid)
		if err != nil {
			t.Fatal(err)
		}
		if gc.Name != lease.Name || len(gc.Tags) != 1 || gc.Tags[0] != lease.Tag || gc.Template || len(gc.Disks) != 0 {
			t.Fatalf("lease guest: %+v", gc)
		}
		got, ok := lease.ParseHolder(gc.Description)
		want := lease.Holder{Installation: "inst-a", Host: "ctl-inst-a", PID: 100, ID: l.Holder().ID, Acquired: clk.Now(), Expires: clk.Now().Add(time.Minute)}
		if !ok || got != want || got != l.Holder() || len(got.ID) != 16 {
			t.Fatalf("lease names %+v (ok %v), want %+v", got, ok, want)
		}
		clk.Add(40 * time.Second)
		if err := l.Renew(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got, _ := onCluster(t, c, h); got.Expires != clk.Now().Add(time.Minute) || got.Acquired != want.Acquired || l.Holder() != got {
			t.Fatalf("after renewal the lease names %+v, want expiry %s", got, clk.Now().Add(time.Minute))
		}
		if err := l.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GuestConfig(t.Context(), h.Node(), vmid); err == nil {
			t.Fatal("the lease guest is still there after Release")
		}
		if err := l.Release(t.Context()); err != nil {
			t.Fatalf("second release: %v", err)
		}
		if err := l.Renew(t.Context()); err == nil {
			t.Fatal("renewing a released lease succeeded")
		}
		select {
		case <-l.Lost():
			t.Fatal("Release closed Lost")
		default:
		}
	})
}

func TestHeldByAnotherIsRefusedByName(t *testing.T) {
	eachCluster(t, func(t *testing.T, h proxmoxtest.Harness, c lease.Cluster) {
		a := acquire(t, c, opts(h, "inst-a", 100))
		before, _ := onCluster(t, c, h)
		_, err := lease.Acquire(t.Context(), c, opts(h, "inst-b", 200))
		var held *lease.HeldError
		if !errors.As(err, &held) {
			t.Fatalf("second holder: %v, want a *HeldError", err)
		}
		if held.VMID != vmid || held.Holder != a.Holder() {
			t.Fatalf("held by %+v at %d, want %+v", held.Holder, held.VMID, a.Holder())
		}
		for _, s := range []string{"VMID 9949", "installation inst-a", "host ctl-inst-a", "pid 100", a.Holder().Expires.Format(time.RFC3339)} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%q does not say %q", err, s)
			}
		}
		if after, _ := onCluster(t, c, h); after != before {
			t.Fatalf("the refused holder changed the lease: %+v", after)
		}
		if err := a.Renew(t.Context()); err != nil {
			t.Fatalf("the holder lost its lease to a refused one: %v", err)
		}
	})
}

// signal closes a channel at the first log entry with a message.
type signal struct {
	msg  string
	once sync.Once
	ch   chan struct{}
}

func (s *signal) Levels() []logrus.Level { return logrus.AllLevels }
func (s *signal) Fire(e *logrus.Entry) error {
	if e.Message == s.msg {
		s.once.Do(func() { close(s.ch) })
	}
	return nil
}

func TestSecondHolderWaitsForRelease(t *testing.T) {
	eachCluster(t, func(t *testing.T, h proxmoxtest.Harness, c lease.Cluster) {
		a := acquire(t, c, opts(h, "inst-a", 100))
		waiting := &signal{msg: "waiting for the cluster lease", ch: make(chan struct{})}
		log := logrus.New()
		log.SetOutput(io.Discard)
		log.AddHook(waiting)
		o := opts(h, "inst-b", 200)
		o.Wait, o.Log = -1, log
		type result struct {
			l   *lease.Lease
			err error
		}
		done := make(chan result, 1)
		go func() {
			l, err := lease.Acquire(t.Context(), c, o)
			done <- result{l, err}
		}()
		select {
		case <-waiting.ch:
		case r := <-done:
			t.Fatalf("second holder did not wait: %v", r.err)
		}
		if err := a.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil {
			t.Fatalf("second holder after release: %v", r.err)
		}
		if got, _ := onCluster(t, c, h); got.Installation != "inst-b" || got != r.l.Holder() {
			t.Fatalf("lease names %+v, want inst-b's %+v", got, r.l.Holder())
		}
	})
}

func TestExpiredLeaseIsTakenOver(t *testing.T) {
	eachCluster(t, func(t *testing.T, h proxmoxtest.Harness, c lease.Cluster) {
		clk := newClock()
		a := acquire(t, c, optsAt(h, "inst-a", 100, clk))
		clk.Add(time.Minute) // a's lease runs out (a crashed, say)
		b := acquire(t, c, optsAt(h, "inst-b", 200, clk))
		if got, _ := onCluster(t, c, h); got != b.Holder() || got.Installation != "inst-b" {
			t.Fatalf("after the takeover the lease names %+v", got)
		}
		err := a.Renew(t.Context())
		if !errors.Is(err, lease.ErrLost) || !strings.Contains(err.Error(), "installation inst-b") {
			t.Fatalf("the expired holder's renewal: %v, want ErrLost naming inst-b", err)
		}
		select {
		case <-a.Lost():
		default:
			t.Fatal("Lost not closed for the expired holder")
		}
		if err := a.Release(t.Context()); !errors.Is(err, lease.ErrLost) {
			t.Fatalf("releasing a lost lease: %v, want ErrLost", err)
		}
		if got, _ := onCluster(t, c, h); got != b.Holder() {
			t.Fatalf("the old holder's Release touched the new lease: %+v", got)
		}
	})
}

func TestOwnInstallationsLeaseIsTakenOver(t *testing.T) {
	eachCluster(t, func(t *testing.T, h proxmoxtest.Harness, c lease.Cluster) {
		crashed := acquire(t, c, opts(h, "inst-a", 100))
		again := acquire(t, c, opts(h, "inst-a", 101))
		if again.Holder().ID == crashed.Holder().ID || again.Holder().PID != 101 {
			t.Fatalf("new holder %+v", again.Holder())
		}
		if got, _ := onCluster(t, c, h); got != again.Holder() {
			t.Fatalf("lease names %+v", got)
		}
		if err := crashed.Renew(t.Context()); !errors.Is(err, lease.ErrLost) {
			t.Fatalf("the predecessor's renewal: %v, want ErrLost", err)
		}
	})
}

func TestOtherGuestAtLeaseVMID(t *testing.T) {
	eachCluster(t, func(t *testing.T, h proxmoxtest.Harness, c lease.Cluster) {
		h.AddVM(t, proxmoxtest.VM{VMID: vmid, Name: "web", Description: "not a lease"})
		_, err := lease.Acquire(t.Context(), c, opts(h, "inst-a", 100))
		if !errors.Is(err, lease.ErrOccupied) || !strings.Contains(err.Error(), `VMID 9949 holds VM "web"; the lease needs it: free it or choose another`) {
			t.Fatalf("err = %v", err)
		}
		gc, err := c.GuestConfig(t.Context(), h.Node(), vmid)
		if err != nil || gc.Description != "not a lease" || gc.Name != "web" {
			t.Fatalf("the guest changed: %+v %v", gc, err)
		}
	})
}

// TestRacingAcquire: two installations acquire at once, many times, on a
// free VMID and on an expired lease: exactly one wins each time and the
// other is refused naming it.
func TestRacingAcquire(t *testing.T) {
	eachCluster(t, func(t *testing.T, h proxmoxtest.Harness, c lease.Cluster) {
		rounds := 100
		if testing.Short() {
			rounds = 10
		}
		clk := newClock()
		for round := range rounds {
			if round%2 == 1 { // leave an expired lease behind
				acquire(t, c, optsAt(h, "crashed", 1, clk))
				clk.Add(2 * time.Minute)
			}
			var wg sync.WaitGroup
			leases := make([]*lease.Lease, 2)
			errs := make([]error, 2)
			for i := range 2 {
				wg.Go(func() {
					leases[i], errs[i] = lease.Acquire(t.Context(), c, optsAt(h, fmt.Sprintf("inst-%d", i), 100+i, clk))
				})
			}
			wg.Wait()
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("round %d: errors %v and %v: want exactly one winner", round, errs[0], errs[1])
			}
			win := 0
			if errs[0] != nil {
				win = 1
			}
			var held *lease.HeldError
			if !errors.As(errs[1-win], &held) || held.Holder != leases[win].Holder() {
				t.Fatalf("round %d: loser got %v, want a *HeldError naming %+v", round, errs[1-win], leases[win].Holder())
			}
			if got, _ := onCluster(t, c, h); got != leases[win].Holder() {
				t.Fatalf("round %d: lease names %+v, winner is %+v", round, got, leases[win].Holder())
			}
			if err := leases[win].Release(t.Context()); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	})
}

// interleaved runs before once, just before the first SetMetaIf it
// passes on: another installation's write between a read and a swap.
type interleaved struct {
	lease.Cluster
	once   sync.Once
	before func(ctx context.Context) error
}

func (c *interleaved) SetMetaIf(ctx context.Context, node string, vmid int, digest, desc string, tags []string) error {
	var err error
	c.once.Do(func() { err = c.before(ctx) })
	if err != nil {
		return err
	}
	return c.Cluster.SetMetaIf(ctx, node, vmid, digest, desc, tags)
}

func TestLeaseLostToAnotherClosesLost(t *testing.T) {
	eachCluster(t, func(t *testing.T, h proxmoxtest.Harness, c lease.Cluster) {
		thief := lease.Holder{Installation: "inst-b", Host: "ctl-b", PID: 7, ID: "0123456789abcdef",
			Acquired: time.Now().UTC().Truncate(time.Second), Expires: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}
		ic := &interleaved{Cluster: c, before: func(ctx context.Context) error {
			return h.Cluster().SetMeta(ctx, h.Node(), vmid, thief.Description(), []string{lease.Tag})
		}}
		l, err := lease.Acquire(t.Context(), ic, opts(h, "inst-a", 100))
		if err != nil {
			t.Fatal(err)
		}
		guarded, cancel := l.Guard(t.Context())
		defer cancel()
		err = l.Renew(t.Context())
		if !errors.Is(err, lease.ErrLost) || !strings.Contains(err.Error(), "installation inst-b") {
			t.Fatalf("renewal after a lost swap: %v, want ErrLost naming inst-b", err)
		}
		<-l.Lost()
		<-guarded.Done()
		if cause := context.Cause(guarded); !errors.Is(cause, lease.ErrLost) {
			t.Fatalf("guarded context ended with %v, want ErrLost", cause)
		}
		if got, _ := onCluster(t, c, h); got != thief {
			t.Fatalf("the loser overwrote the lease: %+v", got)
		}
	})
}

func TestKeepRenewsAndNoticesLoss(t *testing.T) {
	eachCluster(t, func(t *testing.T, h proxmoxtest.Harness, c lease.Cluster) {
		o := opts(h, "inst-a", 100)
		o.TTL = 3 * time.Second // renewals every second, real clock
		l := acquire(t, c, o)
		first := l.Holder().Expires
		l.Keep(t.Context())
		for l.Holder().Expires.Equal(first) {
			time.Sleep(50 * time.Millisecond)
		}
		if got, _ := onCluster(t, c, h); got != l.Holder() {
			t.Fatalf("after a renewal by Keep the lease names %+v, want %+v", got, l.Holder())
		}
		other := lease.Holder{Installation: "inst-b", Host: "ctl-b", PID: 7, ID: "0123456789abcdef",
			Acquired: time.Now().UTC().Truncate(time.Second), Expires: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}
		if err := h.Cluster().SetMeta(t.Context(), h.Node(), vmid, other.Description(), []string{lease.Tag}); err != nil {
			t.Fatal(err)
		}
		<-l.Lost()
		if got, _ := onCluster(t, c, h); got != other {
			t.Fatalf("Keep overwrote another's lease: %+v", got)
		}
		if err := l.Release(t.Context()); !errors.Is(err, lease.ErrLost) {
			t.Fatalf("release after loss: %v", err)
		}
	})
}
