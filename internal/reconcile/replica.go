package reconcile

import (
	"context"
	"errors"
	"fmt"

	"templated/internal/journal"
	"templated/internal/plan"
	"templated/internal/state"
)

// Migrator moves a stopped VM or a template to another node, its local
// disks onto a storage there (PVE's offline migration). Implementations:
// proxmox.Client, proxmoxfake.Cluster.
type Migrator interface {
	Migrate(ctx context.Context, node string, vmid int, target, targetStorage string) error
}

// EventReplica records a replica placed (or not) from its template's build.
const EventReplica = "replica"

// placeReplica puts a copy of the build at t's reserved VMID on rt's node
// (rt is t as its replica there, state.Template.AsReplica): a full clone
// on t's node at a staging VMID, migrated offline to rt's node onto its
// storage (local storage cannot be cloned across nodes), converted to a
// template, verified, stamped with the build's stamp under the replica's
// name, and swapped in at the replica's VMID with the same journal, keep
// previous and recovery as a build. The reserved VMID of t is only read.
func (e *Executor) placeReplica(ctx context.Context, d *state.Desired, t, rt state.Template, a plan.Action) Result {
	start := e.now()
	res := Result{Template: rt.Name, Action: a.Kind}
	log := e.log().WithFields(map[string]any{"template": rt.Name, "replica_of": t.Name, "node": rt.Node})
	finish := func(step journal.Step, err error) Result {
		res.Step, res.Err, res.Duration = step, err, e.now().Sub(start)
		ev := Event{Kind: EventReplica, Template: rt.Name, BuildID: res.BuildID, VMID: rt.VMID, Node: rt.Node, Step: step, Result: "success",
			Detail: fmt.Sprintf("copy of %s build %s on %s at %d", t.Name, res.BuildID, rt.Node, rt.VMID)}
		if err != nil {
			ev.Result, ev.Error = "failure", err.Error()
			log.WithError(err).WithField("step", step).Error("replica not placed")
			e.progress(rt.Name, step, start, "failed: %v", err)
		} else {
			e.progress(rt.Name, step, start, "done: VMID %d on %s holds build %s", rt.VMID, rt.Node, res.BuildID)
		}
		if rerr := e.Recorder.Event(context.WithoutCancel(ctx), ev); rerr != nil {
			log.WithError(rerr).Error("record replica")
		}
		return res
	}
	mig, ok := e.Cluster.(Migrator)
	if !ok {
		return finish(journal.StepAllocated, errors.New("the cluster client cannot migrate guests"))
	}
	source, err := e.Cluster.GuestConfig(ctx, t.Node, t.VMID)
	if err != nil {
		return finish(journal.StepAllocated, fmt.Errorf("read %s (%d): %w", t.Name, t.VMID, err))
	}
	stamp, owned := state.StampFromDescription(source.Description)
	if !source.Template || !owned || stamp.Role != state.RoleTemplate || stamp.Template != t.Name {
		return finish(journal.StepAllocated, fmt.Errorf("VMID %d does not hold templated's template %s to copy", t.VMID, t.Name))
	}
	res.BuildID = stamp.BuildID
	staging, err := e.allocate(ctx, d.VMIDs.Staging)
	if err != nil {
		return finish(journal.StepAllocated, fmt.Errorf("allocate staging VMID: %w", err))
	}
	var op journal.Op
	defer func() { e.release(staging, op.Previous) }()
	op = journal.Op{Kind: "replica", Template: rt.Name, BuildID: stamp.BuildID, Node: rt.Node, VMID: rt.VMID,
		Staging: staging, Step: journal.StepAllocated, Started: start.UTC(), Updated: start.UTC(), HadCurrent: a.Current != nil}
	if err := e.Journal.Put(op); err != nil {
		return finish(op.Step, err)
	}
	fail := func(step journal.Step, cause error) Result {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if err := e.removeStaging(cctx, rt, staging, stamp.BuildID); err != nil {
			op.Step = journal.StepCleanup
			_ = e.Journal.Put(op) // the next run finishes the clean-up
			return finish(step, fmt.Errorf("%w (and removing staging VM %d: %v)", cause, staging, err))
		}
		_ = e.Journal.Done(rt.Name)
		return finish(step, cause)
	}

	// Place: clone on the template's node, move the copy, make it a template.
	op.Step, op.Updated = journal.StepBuilding, e.now().UTC()
	if err := e.Journal.Put(op); err != nil {
		return fail(op.Step, err)
	}
	e.progress(rt.Name, op.Step, start, "copying %s (build %s) to %s", t.Name, stamp.BuildID, rt.Node)
	if err := e.Cluster.Clone(ctx, t.Node, t.VMID, staging, stagingName(rt.Name, staging, stamp.BuildID)); err != nil {
		return fail(op.Step, fmt.Errorf("clone %d to staging VMID %d: %w", t.VMID, staging, err))
	}
	if rt.Node != t.Node {
		if err := mig.Migrate(ctx, t.Node, staging, rt.Node, rt.Storage); err != nil {
			return fail(op.Step, fmt.Errorf("migrate staging VM %d to %s: %w", staging, rt.Node, err))
		}
	}
	if err := e.Cluster.ConvertToTemplate(ctx, rt.Node, staging); err != nil {
		return fail(op.Step, fmt.Errorf("convert staging VM %d: %w", staging, err))
	}

	// Verify and stamp: the template's build, under the replica's name.
	op.Step, op.Updated = journal.StepVerifying, e.now().UTC()
	if err := e.Journal.Put(op); err != nil {
		return fail(op.Step, err)
	}
	if err := e.verify(ctx, rt, staging); err != nil {
		return fail(op.Step, err)
	}
	placed := stamp
	placed.Template, placed.Role = rt.Name, state.RoleStaging
	if err := e.Cluster.SetMeta(ctx, rt.Node, staging, placed.Description(), placed.Tags()); err != nil {
		return fail(op.Step, fmt.Errorf("stamp staging VM %d: %w", staging, err))
	}
	window, err := e.swap(ctx, &op, rt, staging, placed, start)
	res.SwapWindow = window
	if err != nil {
		if e.emptied(ctx, rt) {
			return finish(op.Step, fmt.Errorf("%w (staging VM %d and the journal kept for the next run)", err, staging))
		}
		return fail(op.Step, err)
	}
	if err := e.cleanup(ctx, &op, rt, staging); err != nil {
		return finish(op.Step, err)
	}
	return finish(journal.StepCleanup, nil)
}
