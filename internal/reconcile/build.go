package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"templated/internal/journal"
	"templated/internal/plan"
	"templated/internal/state"
)

// cleanupTimeout bounds the clean-up that runs after a failure or a
// cancellation, when the caller's context may already be done.
const cleanupTimeout = 2 * time.Minute

// buildAndSwap runs one create or rebuild from start to end.
func (e *Executor) buildAndSwap(ctx context.Context, d *state.Desired, t state.Template, a plan.Action, p prepared) Result {
	start := e.now()
	res := Result{Template: t.Name, Action: a.Kind, BuildID: e.newBuildID()}
	log := e.log().WithFields(map[string]any{"template": t.Name, "build_id": res.BuildID})
	finish := func(step journal.Step, err error) Result {
		res.Step, res.Err, res.Duration = step, err, e.now().Sub(start)
		if err != nil {
			log.WithError(err).WithField("step", step).Error("build failed")
			e.progress(t.Name, step, start, "failed: %v", err)
		} else {
			log.WithField("swap_window", res.SwapWindow).Info("template built and swapped in")
			e.progress(t.Name, step, start, "done: VMID %d holds release %s", t.VMID, a.Release)
		}
		return res
	}

	var op journal.Op
	staging, err := e.allocate(ctx, d.VMIDs.Staging)
	if err != nil {
		return finish(journal.StepAllocated, fmt.Errorf("allocate staging VMID: %w", err))
	}
	defer func() { e.release(staging, op.Previous) }()
	op = journal.Op{Kind: "build", Template: t.Name, BuildID: res.BuildID, Node: t.Node, VMID: t.VMID,
		Staging: staging, Step: journal.StepAllocated, Started: start.UTC(), Updated: start.UTC(), HadCurrent: a.Current != nil}
	if err := e.Journal.Put(op); err != nil {
		return finish(op.Step, err)
	}
	rec := BuildRecord{Template: t, Action: a, BuildID: res.BuildID, StagingVMID: staging, InputsHash: a.InputsHash,
		DesiredSHA256: d.SHA256, Started: start.UTC(), Images: p.images}
	ev, err := e.Recorder.BuildStarted(ctx, rec)
	if err != nil {
		_ = e.Journal.Done(t.Name)
		return finish(op.Step, fmt.Errorf("record build start: %w", err))
	}
	// fail ends a build that did not reach the swap: the reserved VMID was
	// never touched. It removes the staging VM (unless kept for debugging)
	// and seals the evidence, with a context that outlives cancellation.
	fail := func(step journal.Step, cause error) Result {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		rec.Finished, rec.Result, rec.Step, rec.Error = e.now().UTC(), "failure", step, cause.Error()
		if err := ev.Finish(cctx, rec, cause); err != nil {
			log.WithError(err).Error("record build failure")
		}
		if e.KeepFailed {
			e.progress(t.Name, step, start, "staging VM %d kept for debugging (--keep-failed)", staging)
			_ = e.Journal.Done(t.Name)
			return finish(step, cause)
		}
		if err := e.removeStaging(cctx, t, staging, res.BuildID); err != nil {
			op.Step = journal.StepCleanup
			_ = e.Journal.Put(op) // the next run finishes the clean-up
			return finish(step, fmt.Errorf("%w (and removing staging VM %d: %v)", cause, staging, err))
		}
		_ = e.Journal.Done(t.Name)
		return finish(step, cause)
	}

	// Build.
	op.Step, op.Updated = journal.StepBuilding, e.now().UTC()
	if err := e.Journal.Put(op); err != nil {
		return fail(op.Step, err)
	}
	e.progress(t.Name, op.Step, start, "packer build at staging VMID %d (%s)", staging, strings.Join(reasonCodes(a), ", "))
	bctx, cancel := ctx, context.CancelFunc(func() {})
	if t.BuildTimeout > 0 {
		bctx, cancel = context.WithTimeout(ctx, t.BuildTimeout)
	}
	br, err := e.Builder.Build(bctx, BuildRequest{
		Template: t, InputsHash: a.InputsHash, BuildID: res.BuildID, StagingVMID: staging,
		StagingName: stagingName(t.Name, staging, res.BuildID), Description: fmt.Sprintf("templated staging build %s (installation %s)", res.BuildID, e.Installation),
		LogPath: ev.LogPath(), ManifestPath: ev.ManifestPath(), Output: e.output(),
		Images: p.images, Base: p.base,
	})
	timedOut := errors.Is(bctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	cancel()
	if err != nil {
		if timedOut {
			// Packer only sees a cancel; say why it came.
			err = fmt.Errorf("timed out after %s (build_timeout): %w", t.BuildTimeout, err)
		}
		return fail(op.Step, fmt.Errorf("packer build: %w", err))
	}
	rec.PackerVersion, rec.ArtifactID = br.PackerVersion, br.ArtifactID

	// Verify and stamp the staged template.
	op.Step, op.Updated = journal.StepVerifying, e.now().UTC()
	if err := e.Journal.Put(op); err != nil {
		return fail(op.Step, err)
	}
	if err := e.verify(ctx, t, staging); err != nil {
		return fail(op.Step, err)
	}
	stamp := state.Stamp{Template: t.Name, Release: a.Release, InputsHash: a.InputsHash, BuiltAt: e.now().UTC(),
		BuildID: res.BuildID, Commit: e.Commit, Role: state.RoleStaging, Installation: e.Installation, Plugin: br.PluginVersion,
		Images: p.checksums()}
	if err := e.Cluster.SetMeta(ctx, t.Node, staging, stamp.Description(), stamp.Tags()); err != nil {
		return fail(op.Step, fmt.Errorf("stamp staging VM %d: %w", staging, err))
	}
	e.progress(t.Name, op.Step, start, "verified staging template %d", staging)

	// Swap in. From here on the reserved VMID is touched; swap restores the
	// previous template itself if placing the new one fails.
	window, err := e.swap(ctx, &op, t, staging, stamp, start)
	res.SwapWindow = window
	rec.SwapWindow = window
	if err != nil {
		if e.emptied(ctx, t) {
			// Restoring failed too: keep the journal and the staged build,
			// so that the next run finishes or rolls back the swap.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			rec.Finished, rec.Result, rec.Step, rec.Error = e.now().UTC(), "failure", op.Step, err.Error()
			if ferr := ev.Finish(cctx, rec, err); ferr != nil {
				log.WithError(ferr).Error("record build failure")
			}
			return finish(op.Step, fmt.Errorf("%w (staging VM %d and the journal kept for the next run)", err, staging))
		}
		return fail(op.Step, err)
	}
	// The template is in place: seal its evidence even if ctx ended just
	// now, so the ledger never lacks the end of a build that was swapped in.
	rec.Finished, rec.Result, rec.Step = e.now().UTC(), "success", journal.StepCleanup
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	err = ev.Finish(fctx, rec, nil)
	fcancel()
	if err != nil {
		log.WithError(err).Error("record build success")
	}
	if err := e.cleanup(ctx, &op, t, staging); err != nil {
		return finish(op.Step, err)
	}
	return finish(journal.StepCleanup, nil)
}

func reasonCodes(a plan.Action) []string {
	var out []string
	for _, r := range a.Reasons {
		out = append(out, r.Code)
	}
	return out
}

// verify checks that the staged template is what the desired entry asks for.
func (e *Executor) verify(ctx context.Context, t state.Template, vmid int) error {
	c, err := e.Cluster.GuestConfig(ctx, t.Node, vmid)
	if err != nil {
		return fmt.Errorf("read staged template %d: %w", vmid, err)
	}
	var bad []string
	if !c.Template {
		bad = append(bad, "not a template")
	}
	if cores := c.Cores * max(c.Sockets, 1); t.Cores > 0 && cores != t.Cores {
		bad = append(bad, fmt.Sprintf("%d cores, want %d", cores, t.Cores))
	}
	if t.MemoryMiB > 0 && c.MemoryMiB != t.MemoryMiB {
		bad = append(bad, fmt.Sprintf("%d MiB memory, want %d", c.MemoryMiB, t.MemoryMiB))
	}
	switch {
	case len(c.Disks) == 0:
		bad = append(bad, "no disk")
	case t.DiskGB <= 0:
	case t.Build == state.BuildClone && c.Disks[0].SizeGB <= float64(t.DiskGB):
		// A clone build keeps its base image's disk (plugin v1.1 cannot
		// grow it); place grows it when the template is swapped in.
	case int(c.Disks[0].SizeGB+0.5) != t.DiskGB:
		bad = append(bad, fmt.Sprintf("disk %s is %sG, want %dG", c.Disks[0].Key, strconv.FormatFloat(c.Disks[0].SizeGB, 'f', -1, 64), t.DiskGB))
	}
	if !c.Agent {
		bad = append(bad, "QEMU guest agent not enabled")
	}
	if !c.CloudInit {
		bad = append(bad, "no cloud-init drive")
	}
	if len(bad) > 0 {
		return fmt.Errorf("verify staged template %d: %s", vmid, strings.Join(bad, "; "))
	}
	return nil
}

// removeStaging deletes the staging VM of build buildID of t if it is
// there and is that build's: at the VMID the journal names, with the name
// Packer gave it for this build, and not stamped by another installation.
// Anything else at that VMID is left alone, and the log and the ledger
// say so: it is not this build's to clean up.
func (e *Executor) removeStaging(ctx context.Context, t state.Template, vmid int, buildID string) error {
	g, ok, err := e.guest(ctx, vmid)
	if err != nil || !ok {
		return err
	}
	if g.Lock != "" {
		// A PVE task still runs on it (a clone, or a replica's copy
		// migrating to its node): where the VM ends up is known when the
		// task is done.
		if err := e.waitUnlocked(ctx, vmid); err != nil {
			return err
		}
		if g, ok, err = e.guest(ctx, vmid); err != nil || !ok {
			return err
		}
	}
	stamp, stamped := state.StampFromTags(g.Tags)
	if g.Name != stagingName(t.Name, vmid, buildID) || (stamped && !stamp.MadeBy(e.Installation)) {
		why := fmt.Sprintf("VMID %d holds %q, which is not the staging VM of build %s of this installation (%s); left alone", vmid, g.Name, buildID, e.Installation)
		e.log().WithFields(map[string]any{"template": t.Name, "vmid": vmid, "build_id": buildID, "guest": g.Name}).Warn(why)
		_ = e.Recorder.Event(ctx, Event{Kind: "cleanup", Template: t.Name, BuildID: buildID, VMID: vmid, Step: journal.StepCleanup,
			Result: "skipped", Detail: why})
		return nil
	}
	// A failed clone takes its half-made VM with it when its lock goes.
	// The VM may be on another node than t's (a replica's copy before
	// or after its migration): delete it where it is.
	return e.deleteGuest(ctx, g.Node, vmid, "delete staging")
}

// guest returns the guest at vmid from a fresh list.
func (e *Executor) guest(ctx context.Context, vmid int) (state.Guest, bool, error) {
	var guests []state.Guest
	err := e.retry(ctx, "list guests", func() error {
		var err error
		guests, err = e.Cluster.ListGuests(ctx)
		return err
	})
	if err != nil {
		return state.Guest{}, false, fmt.Errorf("list guests: %w", err)
	}
	for _, g := range guests {
		if g.VMID == vmid {
			return g, true, nil
		}
	}
	return state.Guest{}, false, nil
}

// waitUnlocked waits until vmid carries no lock (a PVE task still runs on
// it, for example a clone started before a crash).
func (e *Executor) waitUnlocked(ctx context.Context, vmid int) error {
	deadline := e.now().Add(10 * time.Minute)
	for {
		g, ok, err := e.guest(ctx, vmid)
		if err != nil {
			return err
		}
		if !ok || g.Lock == "" {
			return nil
		}
		if e.now().After(deadline) {
			return fmt.Errorf("VMID %d still locked (%s) after 10 minutes", vmid, g.Lock)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// AdoptedInputs is the inputs hash `templated adopt` stamps on a hand-built
// template: it matches no real inputs, so the next plan rebuilds it.
const AdoptedInputs = "adopted"
