package reconcile

import (
	"context"
	"fmt"
	"time"

	"templated/internal/journal"
	"templated/internal/state"
)

// Rollback puts t's newest previous version back at the reserved VMID. The
// current template is kept in the previous range first (so a rollback can
// itself be undone), and the template is held: plans leave it alone until
// its desired entry changes (inputs differ from inputsHash) or Resume.
func (e *Executor) Rollback(ctx context.Context, d *state.Desired, name, inputsHash, who string) error {
	t, ok := d.Template(name)
	if !ok {
		return fmt.Errorf("rollback: %s is not in the desired file", name)
	}
	e.ranges = d.VMIDs
	prevs, err := e.previousVersions(ctx, t)
	if err != nil {
		return fmt.Errorf("rollback %s: %w", name, err)
	}
	if len(prevs) == 0 {
		return fmt.Errorf("rollback %s: no previous version in %d-%d to roll back to", name, d.VMIDs.Previous.First, d.VMIDs.Previous.Last)
	}
	source := prevs[0]
	cfg, err := e.Cluster.GuestConfig(ctx, t.Node, source.VMID)
	if err != nil {
		return fmt.Errorf("rollback %s: read %d: %w", name, source.VMID, err)
	}
	placed, ok := state.StampFromDescription(cfg.Description)
	if !ok {
		return fmt.Errorf("rollback %s: previous version %d carries no stamp", name, source.VMID)
	}
	start := e.now()
	op := journal.Op{Kind: "rollback", Template: t.Name, BuildID: placed.BuildID, Node: t.Node, VMID: t.VMID,
		Source: source.VMID, Step: journal.StepKeepPrevious, Started: start.UTC(), Updated: start.UTC(), HadCurrent: true}
	e.mu.Lock()
	if e.reserved == nil {
		e.reserved = map[int]bool{}
	}
	e.reserved[source.VMID] = true
	e.mu.Unlock()
	defer func() { e.release(source.VMID, op.Previous) }()
	if err := e.Journal.Put(op); err != nil {
		return err
	}
	window, err := e.swap(ctx, &op, t, source.VMID, placed, start)
	if err != nil {
		if !e.emptied(ctx, t) {
			// Refused or undone: nothing for a later run to finish (else
			// its recovery would carry out the refused rollback).
			_ = e.Journal.Done(name)
		}
		_ = e.Recorder.Event(ctx, Event{Kind: "rollback", Template: name, VMID: t.VMID, Result: "failure", Error: err.Error()})
		return fmt.Errorf("rollback %s: %w", name, err)
	}
	if err := e.cleanup(ctx, &op, t, 0); err != nil {
		return fmt.Errorf("rollback %s: %w", name, err)
	}
	if err := e.dropSource(ctx, t, source.VMID); err != nil {
		return fmt.Errorf("rollback %s: %w", name, err)
	}
	hold := &state.Hold{Reason: "rolled back by " + who, Since: e.now().UTC(), InputsHash: inputsHash}
	if err := e.Journal.SetHold(name, hold); err != nil {
		return fmt.Errorf("rollback %s: hold: %w", name, err)
	}
	return e.Recorder.Event(ctx, Event{Kind: "rollback", Template: name, BuildID: placed.BuildID, VMID: t.VMID, Result: "success",
		Detail: fmt.Sprintf("release %s (build %s) restored from %d; reserved VMID empty for %s; held until the desired entry changes or `templated resume %s`",
			placed.Release, placed.BuildID, source.VMID, window.Round(time.Millisecond), name)})
}

// dropSource deletes the previous-range copy a rollback placed at the
// reserved VMID: it now stands there.
func (e *Executor) dropSource(ctx context.Context, t state.Template, vmid int) error {
	g, ok, err := e.guest(ctx, vmid)
	if err != nil || !ok {
		return err
	}
	if !g.HasTag(state.TagPrevious) {
		return nil
	}
	return e.retry(ctx, "remove restored copy", func() error { return e.Cluster.Delete(ctx, t.Node, vmid) })
}

// Resume releases a hold set by Rollback.
func (e *Executor) Resume(ctx context.Context, name string) error {
	holds, err := e.Journal.Holds()
	if err != nil {
		return err
	}
	if _, ok := holds[name]; !ok {
		return fmt.Errorf("resume: %s is not held", name)
	}
	if err := e.Journal.SetHold(name, nil); err != nil {
		return err
	}
	return e.Recorder.Event(ctx, Event{Kind: "resume", Template: name, Result: "success", Detail: "hold released"})
}

// Adopt takes over a hand-built template at t's reserved VMID: it stamps it
// as templated's with the AdoptedInputs hash, so the next plan rebuilds it
// through the pipeline (keeping the hand-built one as the previous
// version). The original description is kept below the stamp.
func (e *Executor) Adopt(ctx context.Context, d *state.Desired, name string) error {
	t, ok := d.Template(name)
	if !ok {
		return fmt.Errorf("adopt: %s is not in the desired file", name)
	}
	g, ok, err := e.guest(ctx, t.VMID)
	if err != nil {
		return fmt.Errorf("adopt %s: %w", name, err)
	}
	switch {
	case !ok:
		return fmt.Errorf("adopt %s: VMID %d is empty; nothing to adopt (apply builds it)", name, t.VMID)
	case !g.Template:
		return fmt.Errorf("adopt %s: VMID %d holds a plain VM (%q), not a template", name, t.VMID, g.Name)
	case g.Lock != "":
		return fmt.Errorf("adopt %s: VMID %d is locked (%s)", name, t.VMID, g.Lock)
	}
	if _, owned := state.StampFromTags(g.Tags); owned {
		return fmt.Errorf("adopt %s: VMID %d is already managed by templated", name, t.VMID)
	}
	cfg, err := e.Cluster.GuestConfig(ctx, t.Node, t.VMID)
	if err != nil {
		return fmt.Errorf("adopt %s: %w", name, err)
	}
	s := state.Stamp{Template: t.Name, Release: "0.0.0", InputsHash: AdoptedInputs, BuiltAt: e.now().UTC(),
		BuildID: "adopted-" + e.newBuildID(), Role: state.RoleTemplate, Installation: e.Installation}
	desc := s.Description()
	if cfg.Description != "" {
		desc = state.WithNotes(desc, "Description before adoption:\n"+cfg.Description)
	}
	if len(desc) > 8000 {
		desc = desc[:8000]
	}
	if err := e.Cluster.SetMeta(ctx, t.Node, t.VMID, desc, s.Tags(g.Tags...)); err != nil {
		return fmt.Errorf("adopt %s: stamp: %w", name, err)
	}
	return e.Recorder.Event(ctx, Event{Kind: "adopt", Template: name, BuildID: s.BuildID, VMID: t.VMID, Result: "success",
		Detail: fmt.Sprintf("hand-built template %q (tags %v) taken over; the next apply rebuilds it", g.Name, g.Tags)})
}
