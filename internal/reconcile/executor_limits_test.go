package reconcile

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"templated/internal/state"
)

// manyTemplates returns n templates at VMIDs 9000 on, and their names.
func manyTemplates(n int) ([]state.Template, []string) {
	var ts []state.Template
	var names []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("tpl-ubuntu-%d.04", 20+i)
		ts = append(ts, tmpl(name, 9000+i, "1.0.0"))
		names = append(names, name)
	}
	return ts, names
}

// nodeGateBuilder holds every build on pve1 until a build on pve2 has
// started, so Apply finishes only if pve2's build can run while pve1 is busy.
type nodeGateBuilder struct {
	*fakeBuilder
	pve2 chan struct{}
}

func (b nodeGateBuilder) Build(ctx context.Context, req BuildRequest) (BuildResult, error) {
	if req.Template.Node == "pve2" {
		close(b.pve2)
	} else {
		select {
		case <-b.pve2:
		case <-ctx.Done():
			return BuildResult{}, ctx.Err()
		}
	}
	return b.fakeBuilder.Build(ctx, req)
}

// A build waiting for its busy node must not take an overall slot from a
// build for an idle node. Under synctest a deadlock fails the test instead
// of hanging it.
func TestApplyBusyNodeDoesNotStarveIdleNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts, names := manyTemplates(8)
		h := newHarness(t, ts...)
		h.d.Templates[6].Node = "pve2"
		h.e.Builder = nodeGateBuilder{fakeBuilder: h.b, pve2: make(chan struct{})}
		h.e.Parallel, h.e.PerNode = 2, 1
		rep := h.apply(t, inputs(names...))
		if f := rep.Failed(); len(f) != 0 {
			t.Fatalf("failures: %+v", f)
		}
		if p := h.b.peak.Load(); p > 2 {
			t.Fatalf("peak concurrent builds %d, limit 2", p)
		}
		for i, n := range names {
			h.assertTemplate(t, 9000+i, n, "1.0.0")
		}
		h.assertClean(t)
	})
}

// cancelAfterSwap cancels the run as soon as the template is swapped in,
// and its evidence refuses to seal under a cancelled context, as the
// ledger does.
type cancelAfterSwap struct {
	*memRecorder
	cancel context.CancelFunc
}

func (r cancelAfterSwap) Event(ctx context.Context, ev Event) error {
	if ev.Kind == "swap" && ev.Result == "success" {
		r.cancel()
	}
	return r.memRecorder.Event(ctx, ev)
}

func (r cancelAfterSwap) BuildStarted(ctx context.Context, b BuildRecord) (Evidence, error) {
	ev, err := r.memRecorder.BuildStarted(ctx, b)
	return ctxEvidence{ev}, err
}

type ctxEvidence struct{ Evidence }

func (e ctxEvidence) Finish(ctx context.Context, b BuildRecord, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return e.Evidence.Finish(ctx, b, err)
}

// A stop that arrives right after the swap must not leave the ledger
// without the end of a build that is now in place.
func TestApplyCancelAfterSwapStillSealsEvidence(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.1.0"))
	h.seedTemplate(t, "tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, now.Add(-time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.e.Recorder = cancelAfterSwap{memRecorder: h.rec, cancel: cancel}
	guests, err := h.c.ListGuests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := Plan(h.d, state.Observed{Guests: guests, Inputs: inputs("tpl-ubuntu-22.04")}, now)
	if _, err := h.e.Apply(ctx, h.d, p); err != nil {
		t.Fatal(err)
	}
	h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.1.0")
	if len(h.rec.finished) != 1 || h.rec.finished[0].Result != "success" {
		t.Fatalf("ledger builds after a stop right after the swap: %+v", h.rec.finished)
	}
}
