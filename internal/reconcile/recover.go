package reconcile

import (
	"context"
	"errors"
	"fmt"
	"math"

	"templated/internal/journal"
	"templated/internal/state"
)

// Recover finishes or rolls back the operations the journal shows in
// flight: those a crash, a kill -9 or a lost connection interrupted. It is
// level-triggered: each step looks at the cluster before acting. A build
// interrupted before its swap is abandoned (its staging VM removed; the
// next plan builds again); a swap is finished when its staged template is
// intact, else the kept copy goes back to the reserved VMID. Operations it
// cannot finish stay in the journal for the next run.
func (e *Executor) Recover(ctx context.Context, d *state.Desired) error {
	e.ranges = d.VMIDs
	ops, err := e.Journal.Pending()
	if err != nil {
		return err
	}
	var errs []error
	for _, op := range ops {
		if err := e.recoverOne(ctx, d, op); err != nil {
			errs = append(errs, fmt.Errorf("recover %s (%s at %s): %w", op.Template, op.Kind, op.Step, err))
		}
	}
	return errors.Join(errs...)
}

func (e *Executor) recoverOne(ctx context.Context, d *state.Desired, op journal.Op) error {
	t, ok := d.Unit(op.Template)
	if !ok {
		// The entry left the desired file; the journal still knows where.
		// Its keep_previous is unknown, so recovery prunes nothing.
		t = state.Template{Name: op.Template, VMID: op.VMID, Node: op.Node, KeepPrevious: math.MaxInt32}
	}
	t.Node, t.VMID = op.Node, op.VMID
	log := e.log().WithFields(map[string]any{"template": op.Template, "build_id": op.BuildID, "step": op.Step})
	record := func(result, detail string, err error) {
		ev := Event{Kind: "recover", Template: op.Template, BuildID: op.BuildID, VMID: op.VMID, Step: op.Step, Result: result, Detail: detail}
		if err != nil {
			ev.Error = err.Error()
		}
		_ = e.Recorder.Event(ctx, ev)
	}
	e.mu.Lock()
	if e.reserved == nil {
		e.reserved = map[int]bool{}
	}
	for _, id := range []int{op.Staging, op.Previous} {
		if id != 0 {
			e.reserved[id] = true
		}
	}
	e.mu.Unlock()
	defer e.release(op.Staging, op.Previous)

	if stepOrder[op.Step] <= stepOrder[journal.StepVerifying] {
		// Nothing was touched at the reserved VMID: abandon the build.
		if op.Staging != 0 {
			if err := e.removeStaging(ctx, t, op.Staging, op.BuildID); err != nil {
				record("failure", "abandoning interrupted build", err)
				return err
			}
		}
		log.Warn("interrupted build abandoned; staging VM removed")
		record("success", fmt.Sprintf("interrupted build abandoned, staging VM %d removed", op.Staging), nil)
		return e.Journal.Done(op.Template)
	}
	if op.Step == journal.StepCleanup {
		if err := e.cleanup(ctx, &op, t, op.Staging); err != nil {
			record("failure", "finishing clean-up", err)
			return err
		}
		record("success", "clean-up finished", nil)
		return nil
	}
	// A swap was under way: finish it if the source is intact.
	placed, intact := e.sourceStamp(ctx, t, op)
	if intact && op.Step != journal.StepRestore {
		if _, err := e.swap(ctx, &op, t, op.Source, placed, e.now()); err != nil {
			record("failure", "finishing interrupted swap", err)
			return err
		}
		if err := e.cleanup(ctx, &op, t, op.Staging); err != nil {
			return err
		}
		if op.Kind == "rollback" {
			if err := e.dropSource(ctx, t, op.Source); err != nil {
				return err
			}
		}
		log.Warn("interrupted swap finished")
		record("success", fmt.Sprintf("interrupted swap finished: VMID %d holds build %s", op.VMID, placed.BuildID), nil)
		return nil
	}
	if err := e.restore(ctx, &op, t, errors.New("interrupted swap")); err != nil && !restored(ctx, e, t) && (op.HadCurrent || !e.vacant(ctx, t)) {
		// A create whose VMID is empty again is back where its plan
		// started: nothing to restore, the next plan creates it.
		record("failure", "restoring after interrupted swap", err)
		return err
	}
	if err := e.cleanup(ctx, &op, t, op.Staging); err != nil {
		return err
	}
	record("success", "interrupted swap rolled back: previous template in place", nil)
	return nil
}

// sourceStamp reads the stamp of the swap's source, and whether the source
// is an intact template carrying one.
func (e *Executor) sourceStamp(ctx context.Context, t state.Template, op journal.Op) (state.Stamp, bool) {
	if op.Source == 0 {
		return state.Stamp{}, false
	}
	g, ok, err := e.guest(ctx, op.Source)
	if err != nil || !ok || !g.Template || g.Lock != "" {
		return state.Stamp{}, false
	}
	cfg, err := e.Cluster.GuestConfig(ctx, t.Node, op.Source)
	if err != nil {
		return state.Stamp{}, false
	}
	s, ok := state.StampFromDescription(cfg.Description)
	return s, ok
}

// restored reports whether the reserved VMID holds templated's template.
func restored(ctx context.Context, e *Executor, t state.Template) bool {
	g, ok, err := e.guest(ctx, t.VMID)
	return err == nil && ok && g.Template && g.Lock == ""
}

// vacant reports whether t's reserved VMID holds no guest at all.
func (e *Executor) vacant(ctx context.Context, t state.Template) bool {
	_, ok, err := e.guest(ctx, t.VMID)
	return err == nil && !ok
}

// emptied reports whether a failed swap left t's reserved VMID without a
// usable template (or could not tell), so that its journal entry must stay
// for the next run to finish. A VMID that holds someone else's guest is
// not: no later run can act there, and a journal kept for it would fail
// every run's recovery. It outlives a cancelled ctx.
func (e *Executor) emptied(ctx context.Context, t state.Template) bool {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	g, ok, err := e.guest(cctx, t.VMID)
	if err != nil {
		return true
	}
	if !ok {
		return true
	}
	return g.Name == t.Name && (!g.Template || g.Lock != "")
}
