package reconcile

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"templated/internal/journal"
	"templated/internal/proxmox/proxmoxfake"
	"templated/internal/state"
)

// crasher freezes the executor at its k-th cluster write, before the write
// (the request never reached PVE) or after it (PVE carried it out but the
// process died before it saw the answer), as a kill -9 would. The frozen
// goroutine never acts again: a new executor recovers from the journal.
type crasher struct {
	c      *proxmoxfake.Cluster
	k      int32
	after  bool
	n      atomic.Int32
	nested atomic.Bool
	frozen chan struct{}
	once   sync.Once
	stop   chan struct{}
}

func (cr *crasher) hit(do func() error) error {
	if cr.nested.Load() {
		return nil
	}
	if cr.n.Add(1) != cr.k {
		return nil
	}
	if cr.after {
		cr.nested.Store(true)
		_ = do()
		cr.nested.Store(false)
	}
	cr.once.Do(func() { close(cr.frozen) })
	<-cr.stop
	return fmt.Errorf("process killed")
}

func (cr *crasher) funcs() proxmoxfake.Funcs {
	bg := context.Background()
	return proxmoxfake.Funcs{
		Clone: func(_ context.Context, node string, src, dst int, name string) error {
			return cr.hit(func() error { return cr.c.Clone(bg, node, src, dst, name) })
		},
		ConvertToTemplate: func(_ context.Context, node string, vmid int) error {
			return cr.hit(func() error { return cr.c.ConvertToTemplate(bg, node, vmid) })
		},
		SetMeta: func(_ context.Context, node string, vmid int, d string, tags []string) error {
			return cr.hit(func() error { return cr.c.SetMeta(bg, node, vmid, d, tags) })
		},
		Delete: func(_ context.Context, node string, vmid int) error {
			return cr.hit(func() error { return cr.c.Delete(bg, node, vmid) })
		},
	}
}

// countWrites runs one successful rebuild and counts its cluster writes.
func countWrites(t *testing.T) int {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.1.0"))
	h.seedTemplate(t, "tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, now.Add(-time.Hour))
	var n atomic.Int32
	count := func() error { n.Add(1); return nil }
	h.c.SetFuncs(proxmoxfake.Funcs{
		Clone:             func(context.Context, string, int, int, string) error { return count() },
		ConvertToTemplate: func(context.Context, string, int) error { return count() },
		SetMeta:           func(context.Context, string, int, string, []string) error { return count() },
		Delete:            func(context.Context, string, int) error { return count() },
	})
	if f := h.apply(t, inputs("tpl-ubuntu-22.04")).Failed(); len(f) != 0 {
		t.Fatal(f)
	}
	return int(n.Load())
}

// TestCrashAtEveryWriteConverges kills the executor at every cluster write
// of a rebuild (before and after the write) and checks that a new process
// recovers: the reserved VMID holds a template, and a rerun converges on
// the new release with nothing left over.
func TestCrashAtEveryWriteConverges(t *testing.T) {
	writes := countWrites(t)
	if writes < 8 {
		t.Fatalf("a rebuild made only %d writes; the test would not cover the swap", writes)
	}
	recovered := 0
	for k := 1; k <= writes; k++ {
		for _, after := range []bool{false, true} {
			t.Run(fmt.Sprintf("write%d-after=%v", k, after), func(t *testing.T) {
				h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.1.0"))
				h.seedTemplate(t, "tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, now.Add(-time.Hour))
				cr := &crasher{c: h.c, k: int32(k), after: after, frozen: make(chan struct{}), stop: make(chan struct{})}
				defer close(cr.stop)
				h.c.SetFuncs(cr.funcs())
				guests, _ := h.c.ListGuests(context.Background())
				p := Plan(h.d, state.Observed{Guests: guests, Inputs: inputs("tpl-ubuntu-22.04")}, now)
				go func() { _, _ = h.e.Apply(context.Background(), h.d, p) }()
				select {
				case <-cr.frozen:
				case <-time.After(10 * time.Second):
					t.Fatal("the executor never reached the crash point")
				}
				h.c.SetFuncs(proxmoxfake.Funcs{})

				// A new process: same journal and cluster, fresh executor.
				old := h.e
				h.e = &Executor{Cluster: old.Cluster, Builder: old.Builder, Recorder: old.Recorder, Journal: old.Journal,
					Parallel: 1, PerNode: 1, RetryWait: time.Millisecond, Now: old.Now}
				if err := h.e.Recover(context.Background(), h.d); err != nil {
					t.Fatalf("recover: %v", err)
				}
				v, ok := h.c.VM(9000)
				if !ok || !v.Template || v.Name != "tpl-ubuntu-22.04" {
					t.Fatalf("after recovery VMID 9000 holds %+v (present %v)", v, ok)
				}
				if f := h.apply(t, inputs("tpl-ubuntu-22.04")).Failed(); len(f) != 0 {
					t.Fatalf("rerun: %+v", f)
				}
				h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.1.0")
				h.assertClean(t)
				if n := h.previousCount(t, "tpl-ubuntu-22.04"); n > 1 {
					t.Fatalf("%d previous versions kept, want at most 1", n)
				}
				recovered++
			})
		}
	}
	t.Logf("crash points: %d writes × before/after = %d, recovered and converged: %d", writes, 2*writes, recovered)
}

// TestRecoverInterruptedCreateWithoutSource: a create interrupted while
// placing, whose staging build has since vanished, must not wedge every
// later run: the half-placed clone is removed and the journal closed.
func TestRecoverInterruptedCreateWithoutSource(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"))
	s := state.Stamp{Template: "tpl-ubuntu-22.04", Release: "1.0.0", InputsHash: inputsA, BuiltAt: now, Role: state.RoleStaging}
	// The clone to 9000 was made (it carries the staging stamp) but not
	// converted; the staging VM 9900 is gone.
	if err := h.c.Add(proxmoxfake.VM{VMID: 9000, Node: "pve1", Name: "tpl-ubuntu-22.04", Tags: s.Tags(), Description: s.Description()}); err != nil {
		t.Fatal(err)
	}
	op := journal.Op{Kind: "build", Template: "tpl-ubuntu-22.04", BuildID: "b", Node: "pve1", VMID: 9000, Staging: 9900, Source: 9900, Step: journal.StepPlaceNew}
	if err := h.e.Journal.Put(op); err != nil {
		t.Fatal(err)
	}
	if err := h.e.Recover(context.Background(), h.d); err != nil {
		t.Fatalf("recover: %v", err)
	}
	if _, ok := h.c.VM(9000); ok {
		t.Fatal("the half-placed clone is still at 9000")
	}
	if f := h.apply(t, inputs("tpl-ubuntu-22.04")).Failed(); len(f) != 0 {
		t.Fatalf("the next apply failed: %+v", f)
	}
	h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.0.0")
	h.assertClean(t)
}
