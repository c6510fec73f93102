package reconcile

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"templated/internal/journal"
	"templated/internal/state"
)

// stepOrder ranks the journal steps so that a resumed swap skips the ones
// already done. Every swap step is idempotent: it looks at the cluster
// before it acts, so repeating a half-done step finishes it.
var stepOrder = map[journal.Step]int{
	journal.StepAllocated: 0, journal.StepBuilding: 1, journal.StepVerifying: 2, journal.StepKeepPrevious: 3,
	journal.StepDeleteCurrent: 4, journal.StepPlaceNew: 5, journal.StepCleanup: 6, journal.StepRestore: 7,
}

func (e *Executor) setStep(op *journal.Op, s journal.Step) error {
	op.Step, op.Updated = s, e.now().UTC()
	return e.Journal.Put(*op)
}

// swap puts the template at op.Source (a verified staging build, or a
// previous version) at the reserved VMID under t's name, keeping the
// current template in the previous range first. It resumes from op.Step.
// When placing fails after the current template was removed, it puts the
// kept copy back, so the reserved VMID is never left empty by a failure
// templated can still act on. It returns how long the reserved VMID stood
// empty, from the end of the delete to the end of the clone that fills it
// again (an upper bound: PVE occupies the VMID when the clone starts).
func (e *Executor) swap(ctx context.Context, op *journal.Op, t state.Template, source int, placed state.Stamp, start time.Time) (time.Duration, error) {
	op.Source = source
	if stepOrder[op.Step] <= stepOrder[journal.StepKeepPrevious] {
		if err := e.setStep(op, journal.StepKeepPrevious); err != nil {
			return 0, err
		}
		if err := e.keepPrevious(ctx, op, t); err != nil {
			return 0, fmt.Errorf("keep current template: %w", e.dropPartialCopy(ctx, op, t, err))
		}
		if op.Previous != 0 {
			e.progress(t.Name, op.Step, start, "current template kept at VMID %d", op.Previous)
		}
	}
	if stepOrder[op.Step] <= stepOrder[journal.StepDeleteCurrent] {
		if err := e.setStep(op, journal.StepDeleteCurrent); err != nil {
			return 0, err
		}
		if err := e.deleteCurrent(ctx, t); err != nil {
			return 0, e.restore(ctx, op, t, fmt.Errorf("remove current template: %w", err))
		}
	}
	emptied := e.now()
	if err := e.setStep(op, journal.StepPlaceNew); err != nil {
		return 0, e.restore(ctx, op, t, err)
	}
	filled, err := e.place(ctx, t, op.Source, placed)
	if err != nil {
		return 0, e.restore(ctx, op, t, fmt.Errorf("place new template: %w", err))
	}
	window := filled.Sub(emptied)
	e.progress(t.Name, op.Step, start, "VMID %d now holds build %s (empty for %s)", t.VMID, placed.BuildID, window.Round(time.Millisecond))
	_ = e.Recorder.Event(ctx, Event{Kind: "swap", Template: t.Name, BuildID: placed.BuildID, VMID: t.VMID, Step: op.Step,
		Result: "success", Detail: fmt.Sprintf("source %d, previous kept at %d, reserved VMID empty for %s", op.Source, op.Previous, window)})
	return window, nil
}

// ours reports whether g is the template templated keeps for t.
func ours(g state.Guest, t state.Template) bool {
	s, owned := state.StampFromTags(g.Tags)
	return owned && g.Template && (g.Name == t.Name || s.InputsHash == AdoptedInputs)
}

// keepPrevious copies the current template (if any) into the previous range.
func (e *Executor) keepPrevious(ctx context.Context, op *journal.Op, t state.Template) error {
	cur, ok, err := e.guest(ctx, t.VMID)
	if err != nil || !ok {
		return err
	}
	if !ours(cur, t) || cur.Lock != "" {
		return fmt.Errorf("VMID %d changed since the plan (now %q, template=%v, lock=%q); not touching it", t.VMID, cur.Name, cur.Template, cur.Lock)
	}
	clones, err := e.Cluster.LinkedClones(ctx, t.Node, t.VMID)
	if err != nil {
		return fmt.Errorf("linked clones: %w", err)
	}
	if len(clones) > 0 {
		return fmt.Errorf("linked clones %v depend on VMID %d; replacing it would break them", clones, t.VMID)
	}
	if op.Previous != 0 {
		// Resumed: the copy may be done, half done, or not started.
		g, ok, err := e.guest(ctx, op.Previous)
		if err != nil {
			return err
		}
		if ok && g.Template && g.HasTag(state.TagPrevious) {
			return nil
		}
		if ok && g.Name == previousName(t.Name, op.Previous) {
			if err := e.waitUnlocked(ctx, op.Previous); err != nil {
				return err
			}
			if err := e.retry(ctx, "delete partial copy", func() error { return e.Cluster.Delete(ctx, t.Node, op.Previous) }); err != nil {
				return err
			}
		} else if ok {
			op.Previous = 0 // someone else took it; choose another
		}
	}
	if op.Previous == 0 {
		prev, err := e.allocate(ctx, e.ranges.Previous)
		if err != nil {
			return err
		}
		op.Previous = prev
		if err := e.Journal.Put(*op); err != nil {
			return err
		}
	}
	cfg, err := e.Cluster.GuestConfig(ctx, t.Node, t.VMID)
	if err != nil {
		return err
	}
	stamp, ok := state.StampFromDescription(cfg.Description)
	if !ok {
		stamp, _ = state.StampFromTags(cur.Tags)
	}
	stamp.Template, stamp.Role, stamp.Installation = t.Name, state.RolePrevious, e.Installation
	if err := e.retry(ctx, "copy current template", func() error {
		// Look first: a clone whose answer was lost may have happened.
		if g, ok, err := e.guest(ctx, op.Previous); err != nil {
			return err
		} else if ok && g.Name == previousName(t.Name, op.Previous) {
			return e.waitUnlocked(ctx, op.Previous)
		}
		return e.Cluster.Clone(ctx, t.Node, t.VMID, op.Previous, previousName(t.Name, op.Previous))
	}); err != nil {
		return err
	}
	if err := e.retry(ctx, "convert copy", func() error { return e.Cluster.ConvertToTemplate(ctx, t.Node, op.Previous) }); err != nil {
		return err
	}
	// The copy keeps people's own tags and notes (an adopted template's
	// original description among them).
	desc := state.WithNotes(stamp.Description(), state.DescriptionNotes(cfg.Description))
	return e.retry(ctx, "stamp copy", func() error {
		return e.Cluster.SetMeta(ctx, t.Node, op.Previous, desc, stamp.Tags(state.ForeignTags(cur.Tags)...))
	})
}

// dropPartialCopy removes what a failed keepPrevious left at op.Previous:
// a copy with t's previous name that never became a stamped previous
// version, which no prune would ever find. It returns cause, completed.
func (e *Executor) dropPartialCopy(ctx context.Context, op *journal.Op, t state.Template, cause error) error {
	if op.Previous == 0 {
		return cause
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	g, ok, err := e.guest(cctx, op.Previous)
	if err != nil || !ok || g.Name != previousName(t.Name, op.Previous) || g.HasTag(state.TagPrevious) {
		return cause
	}
	if err := e.deleteGuest(cctx, t.Node, op.Previous, "remove partial copy"); err != nil {
		return fmt.Errorf("%w (and removing the partial copy %d: %v)", cause, op.Previous, err)
	}
	return cause
}

// deleteCurrent removes templated's template from the reserved VMID, after
// checking that the API still answers (so that a revoked token or an
// unreachable cluster fails before anything is removed).
func (e *Executor) deleteCurrent(ctx context.Context, t state.Template) error {
	if _, err := e.Cluster.Version(ctx); err != nil {
		return fmt.Errorf("preflight: %w", err)
	}
	cur, ok, err := e.guest(ctx, t.VMID)
	if err != nil || !ok {
		return err
	}
	if !ours(cur, t) {
		return fmt.Errorf("VMID %d holds %q, which is not templated's template; not deleting it", t.VMID, cur.Name)
	}
	return e.deleteGuest(ctx, t.Node, t.VMID, "delete current")
}

// deleteGuest deletes vmid, retrying. Each try looks first, so that a
// guest already gone (a delete whose answer was lost, or one a killed run
// started) counts as deleted, and a locked one is waited for.
func (e *Executor) deleteGuest(ctx context.Context, node string, vmid int, what string) error {
	return e.retry(ctx, what, func() error {
		g, ok, err := e.guest(ctx, vmid)
		if err != nil || !ok {
			return err
		}
		if g.Lock != "" {
			if err := e.waitUnlocked(ctx, vmid); err != nil {
				return err
			}
			if _, ok, err := e.guest(ctx, vmid); err != nil || !ok {
				return err
			}
		}
		return e.Cluster.Delete(ctx, node, vmid)
	})
}

// place clones source to the reserved VMID as t's template and stamps it.
// It looks before each try, so a clone that PVE carried out although the
// request failed (a 596, a crash) is finished rather than repeated. It
// returns when the clone was done: from then on the VMID is occupied.
func (e *Executor) place(ctx context.Context, t state.Template, source int, placed state.Stamp) (filled time.Time, err error) {
	placed.Template, placed.Role, placed.Installation = t.Name, state.RoleTemplate, e.Installation
	filled = e.now()
	err = e.retry(ctx, "place", func() error {
		g, ok, err := e.guest(ctx, t.VMID)
		if err != nil {
			return err
		}
		if ok && g.Lock != "" {
			if err := e.waitUnlocked(ctx, t.VMID); err != nil {
				return err
			}
			if g, ok, err = e.guest(ctx, t.VMID); err != nil {
				return err
			}
		}
		if ok && g.Name != t.Name {
			return fmt.Errorf("VMID %d is occupied by %q", t.VMID, g.Name)
		}
		if !ok {
			if err := e.Cluster.Clone(ctx, t.Node, source, t.VMID, t.Name); err != nil {
				return err
			}
			filled = e.now()
			g.Template = false
		}
		if !g.Template {
			if err := e.growDisk(ctx, t); err != nil {
				return err
			}
			if err := e.Cluster.ConvertToTemplate(ctx, t.Node, t.VMID); err != nil {
				return err
			}
		}
		return e.Cluster.SetMeta(ctx, t.Node, t.VMID, placed.Description(), placed.Tags())
	})
	return filled, err
}

// growDisk grows the boot disk of the VM just cloned to the reserved VMID
// to the desired size (a clone build keeps its base image's smaller disk).
func (e *Executor) growDisk(ctx context.Context, t state.Template) error {
	if t.DiskGB <= 0 {
		return nil
	}
	cfg, err := e.Cluster.GuestConfig(ctx, t.Node, t.VMID)
	if err != nil {
		return err
	}
	if len(cfg.Disks) == 0 || cfg.Disks[0].SizeGB >= float64(t.DiskGB) {
		return nil
	}
	return e.Cluster.ResizeDisk(ctx, t.Node, t.VMID, cfg.Disks[0].Key, t.DiskGB)
}

// restore makes sure the reserved VMID holds a template after a failed
// swap: the current one if it is still there, else the copy kept in the
// previous range. It returns cause, completed with what it did.
func (e *Executor) restore(ctx context.Context, op *journal.Op, t state.Template, cause error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	g, ok, err := e.guest(cctx, t.VMID)
	if err != nil {
		return fmt.Errorf("%w; checking VMID %d afterwards failed too (%v): the next run restores it from the journal", cause, t.VMID, err)
	}
	if ok && g.Template && g.Lock == "" {
		return fmt.Errorf("%w; VMID %d still holds %q", cause, t.VMID, g.Name)
	}
	if op.Previous == 0 {
		// A create: nothing stood there before. A half-placed clone of the
		// staged build (t's name, staging tags) is ours to remove, so that
		// the VMID is as the plan found it and the next run creates again.
		if ok && g.Name == t.Name && g.HasTag(state.TagStaging) && !g.Template {
			if err := e.waitUnlocked(cctx, t.VMID); err != nil {
				return fmt.Errorf("%w; %v", cause, err)
			}
			if err := e.deleteGuest(cctx, t.Node, t.VMID, "remove half-placed template"); err != nil {
				return fmt.Errorf("%w; removing the half-placed template failed too: %v", cause, err)
			}
		}
		return fmt.Errorf("%w; there was no template at VMID %d before", cause, t.VMID)
	}
	if err := e.setStep(op, journal.StepRestore); err != nil {
		return fmt.Errorf("%w; journal: %v", cause, err)
	}
	if ok && g.Name != t.Name {
		// Someone put their own guest there after the delete: never
		// remove it. The kept copy and the journal wait for people.
		return fmt.Errorf("%w; VMID %d is now occupied by %q, which is not templated's: the previous template stays at VMID %d (`templated rollback %s` puts it back once the VMID is free)", cause, t.VMID, g.Name, op.Previous, t.Name)
	}
	if ok {
		// A half-placed new template: ours (it has t's name), remove it.
		if err := e.waitUnlocked(cctx, t.VMID); err != nil {
			return fmt.Errorf("%w; %v", cause, err)
		}
		if err := e.retry(cctx, "remove half-placed template", func() error { return e.Cluster.Delete(cctx, t.Node, t.VMID) }); err != nil {
			return fmt.Errorf("%w; removing the half-placed template failed too (%v): the next run restores it from the journal", cause, err)
		}
	}
	cfg, err := e.Cluster.GuestConfig(cctx, t.Node, op.Previous)
	if err != nil {
		return fmt.Errorf("%w; reading the kept copy %d failed (%v): the next run restores it from the journal", cause, op.Previous, err)
	}
	stamp, _ := state.StampFromDescription(cfg.Description)
	if _, err := e.place(cctx, t, op.Previous, stamp); err != nil {
		return fmt.Errorf("%w; restoring the kept copy %d failed too (%v): the next run restores it from the journal", cause, op.Previous, err)
	}
	_ = e.Recorder.Event(cctx, Event{Kind: "swap", Template: t.Name, VMID: t.VMID, Step: journal.StepRestore, Result: "failure",
		Detail: fmt.Sprintf("previous template restored from %d", op.Previous), Error: cause.Error()})
	return fmt.Errorf("%w; the previous template was restored at VMID %d", cause, t.VMID)
}

// cleanup removes the swap's source when it was a staging build and prunes
// previous versions of t beyond t.KeepPrevious, then closes the journal. A
// rollback's source (a previous version now standing at the reserved
// VMID, dropped afterwards) is not counted among the versions kept.
func (e *Executor) cleanup(ctx context.Context, op *journal.Op, t state.Template, staging int) error {
	if err := e.setStep(op, journal.StepCleanup); err != nil {
		return err
	}
	if staging != 0 {
		if err := e.removeStaging(ctx, t, staging, op.BuildID); err != nil {
			return fmt.Errorf("remove staging VM %d: %w", staging, err)
		}
	}
	if err := e.prunePrevious(ctx, t, op.Source); err != nil {
		return fmt.Errorf("prune previous versions: %w", err)
	}
	return e.Journal.Done(t.Name)
}

// previousVersions lists t's copies in the previous range, newest first:
// those this installation made (or made before installations had ids).
func (e *Executor) previousVersions(ctx context.Context, t state.Template) ([]state.Guest, error) {
	ours, _, err := e.listPrevious(ctx, t)
	return ours, err
}

// listPrevious lists t's copies in the previous range, newest first, and
// apart those another installation made, which are neither kept nor
// pruned here.
func (e *Executor) listPrevious(ctx context.Context, t state.Template) (ours, theirs []state.Guest, err error) {
	guests, err := e.Cluster.ListGuests(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list guests: %w", err)
	}
	prefix := t.Name + "-prev-"
	for _, g := range guests {
		if !g.HasTag(state.TagPrevious) || !g.Template || !strings.HasPrefix(g.Name, prefix) {
			continue
		}
		if s, _ := state.StampFromTags(g.Tags); !s.MadeBy(e.Installation) {
			theirs = append(theirs, g)
			continue
		}
		ours = append(ours, g)
	}
	sort.Slice(ours, func(i, j int) bool {
		a, _ := state.StampFromTags(ours[i].Tags)
		b, _ := state.StampFromTags(ours[j].Tags)
		if !a.BuiltAt.Equal(b.BuiltAt) {
			return a.BuiltAt.After(b.BuiltAt)
		}
		return ours[i].VMID > ours[j].VMID
	})
	return ours, theirs, nil
}

// prunePrevious deletes t's previous versions beyond t.KeepPrevious,
// oldest first, leaving out skip.
func (e *Executor) prunePrevious(ctx context.Context, t state.Template, skip int) error {
	all, theirs, err := e.listPrevious(ctx, t)
	if err != nil {
		return err
	}
	for _, g := range theirs {
		s, _ := state.StampFromTags(g.Tags)
		why := fmt.Sprintf("previous version %d %q was made by templated installation %s, not this one (%s); left alone", g.VMID, g.Name, s.Installation, e.Installation)
		e.log().WithFields(map[string]any{"template": t.Name, "vmid": g.VMID}).Warn(why)
		_ = e.Recorder.Event(ctx, Event{Kind: "cleanup", Template: t.Name, VMID: g.VMID, Step: journal.StepCleanup, Result: "skipped", Detail: why})
	}
	prevs := slices.DeleteFunc(all, func(g state.Guest) bool { return g.VMID == skip })
	for i := max(t.KeepPrevious, 0); i < len(prevs); i++ {
		g := prevs[i]
		if err := e.deleteGuest(ctx, t.Node, g.VMID, "prune previous"); err != nil {
			return fmt.Errorf("delete %d: %w", g.VMID, err)
		}
		_ = e.Recorder.Event(ctx, Event{Kind: "cleanup", Template: t.Name, VMID: g.VMID, Step: journal.StepCleanup, Result: "success",
			Detail: fmt.Sprintf("previous version %s removed (keep_previous %d)", g.Name, t.KeepPrevious)})
	}
	return nil
}
