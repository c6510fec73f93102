package session

import (
	"context"
	"errors"
	"fmt"
	"io"

	"templated/internal/lease"
	"templated/internal/ledger"
	"templated/internal/plan"
	"templated/internal/reconcile"
	"templated/internal/state"
)

// Options are what differs between one caller's reconcile and another's.
type Options struct {
	// Trigger says why the run happens, for the decision entry ("apply",
	// or the daemon's triggers).
	Trigger string
	// OnRecover is told how many interrupted operations the journal holds
	// before they are finished or rolled back (not called for none).
	OnRecover func(n int)
	// Observed is called with the plan once the cluster has been read.
	Observed func(plan.Plan)
	// Confirm, when set, is asked before a plan with changes is carried
	// out; false declines it: nothing is built and the decision is
	// recorded as declined. Without Confirm every plan is carried out.
	Confirm func(plan.Plan) (bool, error)
	// Progress receives one line per step and template, and Packer's
	// output, for people (nil: discarded).
	Progress io.Writer
}

// Result is what a reconcile did.
type Result struct {
	// Observed is true once the cluster was read; Plan is valid then.
	Observed bool
	Plan     plan.Plan
	// Declined is true when Confirm said no.
	Declined bool
	// Report has one result per build; a failed build is there, not in
	// Reconcile's error.
	Report reconcile.Report
}

// Reconcile brings the cluster to d: it finishes what the journal holds,
// observes, decides, records the decision, confirms, then builds and
// swaps. Its error means the run itself failed (the cluster unreadable,
// the ledger unwritable, Packer missing, the lease held elsewhere);
// failed builds are in the Report.
//
// A run with nothing to do reads the cluster once and writes nothing to
// it, not even the lease: the lease is taken only for work, and the
// cluster is read again under it, so that what is carried out is what
// the cluster holds while no other installation can act.
func (sess *Session) Reconcile(ctx context.Context, d *state.Desired, o Options) (Result, error) {
	r, err := sess.prepare(ctx, d, o.Progress)
	if err != nil {
		return Result{}, err
	}
	var res Result
	pending, err := sess.journal.Pending()
	if err != nil {
		return res, err
	}
	if len(pending) == 0 {
		p, _, err := observe(ctx, r.cluster, sess.images, d, r.inputs, r.plugin, r.set)
		if err != nil {
			return res, err
		}
		res = Result{Observed: true, Plan: p}
		if !p.HasChanges() {
			if o.Observed != nil {
				o.Observed(p)
			}
			if err := r.rec.decision(ctx, d, p, o.Trigger, false); err != nil {
				return res, fmt.Errorf("record decision: %w", err)
			}
			return res, nil
		}
	}
	err = sess.actWith(ctx, r, d, o, func(ctx context.Context, r *run) error {
		p, obs, err := observe(ctx, r.cluster, sess.images, d, r.inputs, r.plugin, r.set)
		if err != nil {
			return err
		}
		res = Result{Observed: true, Plan: p}
		// The executor makes present exactly what the plan showed.
		r.exec.Resolved = obs.Images
		if o.Observed != nil {
			o.Observed(p)
		}
		if p.HasChanges() && o.Confirm != nil {
			ok, err := o.Confirm(p)
			if err != nil {
				return err
			}
			res.Declined = !ok
		}
		if err := r.rec.decision(ctx, d, p, o.Trigger, res.Declined); err != nil {
			return fmt.Errorf("record decision: %w", err)
		}
		if res.Declined {
			return nil
		}
		res.Report, err = r.exec.Apply(ctx, d, p)
		return err
	})
	return res, err
}

// Rollback puts name's previous version back at its reserved VMID and
// holds it; who is recorded.
func (sess *Session) Rollback(ctx context.Context, d *state.Desired, name, who string, o Options) error {
	return sess.act(ctx, d, o, func(ctx context.Context, r *run) error {
		return r.exec.Rollback(ctx, d, name, r.inputs[name], who)
	})
}

// Adopt takes over a hand-built template at name's reserved VMID.
func (sess *Session) Adopt(ctx context.Context, d *state.Desired, name string, o Options) error {
	return sess.act(ctx, d, o, func(ctx context.Context, r *run) error {
		return r.exec.Adopt(ctx, d, name)
	})
}

// act wires a run and carries out do as actWith does.
func (sess *Session) act(ctx context.Context, d *state.Desired, o Options, do func(context.Context, *run) error) error {
	r, err := sess.prepare(ctx, d, o.Progress)
	if err != nil {
		return err
	}
	return sess.actWith(ctx, r, d, o, do)
}

// actWith takes the cluster lease, finishes what the journal holds, and
// runs do, all under the lease's guard: the context do gets is cancelled
// when the lease is lost, so that nothing acts unguarded.
func (sess *Session) actWith(ctx context.Context, r *run, d *state.Desired, o Options, do func(context.Context, *run) error) error {
	l, err := sess.acquireLease(ctx, r.cluster, d, r.set)
	if err != nil {
		return err
	}
	l.Keep(ctx)
	gctx, cancel := l.Guard(ctx)
	defer func() {
		cancel()
		if err := l.Release(context.WithoutCancel(ctx)); err != nil {
			r.set.Log.WithError(err).Warn("release the cluster lease (it expires by itself)")
		}
	}()
	if err := r.recoverJournal(gctx, d, o.OnRecover); err != nil {
		return err
	}
	return do(gctx, r)
}

// run is one run's wiring: the inputs, the recorder and the executor.
type run struct {
	set     Settings
	cluster reconcile.Cluster
	tools   Tools
	inputs  map[string]string
	plugin  string // the installed Proxmox plugin's version
	rec     *ledgerRecorder
	exec    *reconcile.Executor
}

// prepare wires a run; reading the cluster and deciding need no lease.
func (sess *Session) prepare(ctx context.Context, d *state.Desired, progress io.Writer) (*run, error) {
	cluster, tools, led, set := sess.current()
	if sess.journal == nil {
		return nil, errors.New("session opened for planning only")
	}
	if led == nil {
		return nil, fmt.Errorf("the evidence ledger is not open (%v); nothing is done unrecorded", sess.ledErr)
	}
	r := &run{set: set, cluster: cluster, tools: tools}
	var err error
	if r.inputs, r.rec, r.exec, err = sess.wire(ctx, d, progress, r); err != nil {
		return nil, err
	}
	return r, nil
}

// wire hashes the inputs and builds the recorder and the executor.
func (sess *Session) wire(ctx context.Context, d *state.Desired, progress io.Writer, r *run) (map[string]string, *ledgerRecorder, *reconcile.Executor, error) {
	_, _, led, set := sess.current()
	tc, plugins, err := Toolchain(ctx, r.tools, set.Log)
	if err != nil {
		return nil, nil, nil, err
	}
	r.plugin = tc.Plugin
	root := packerRoot(d, set)
	inputs, err := Inputs(d, root, tc)
	if err != nil {
		return nil, nil, nil, err
	}
	rec := newLedgerRecorder(ctx, led, set.DesiredPath, d, ledger.Versions{Templated: set.Version, Packer: tc.Packer, Plugins: plugins}, set.Getenv)
	exec := &reconcile.Executor{Cluster: r.cluster, Builder: r.tools.Builder(tc.Packer, root), Recorder: rec, Journal: sess.journal,
		Log: set.Log, Progress: progress, Parallel: set.Parallel, PerNode: set.PerNode, KeepFailed: set.KeepFailed,
		Commit: rec.commit(), Installation: sess.installation, LeaseVMID: d.VMIDs.Staging.Last, Images: newImageStore(r.cluster)}
	return inputs, rec, exec, nil
}

// acquireLease takes the cluster lease at the last VMID of the staging
// range, on the connection's node (or the first template's).
func (sess *Session) acquireLease(ctx context.Context, cluster reconcile.Cluster, d *state.Desired, set Settings) (*lease.Lease, error) {
	lc, ok := cluster.(lease.Cluster)
	if !ok {
		return nil, errors.New("the cluster client cannot hold the cluster lease")
	}
	node := set.Conn.Node
	if node == "" && len(d.Templates) > 0 {
		node = d.Templates[0].Node
	}
	return lease.Acquire(ctx, lc, lease.Options{Node: node, VMID: d.VMIDs.Staging.Last, Holder: sess.installation,
		Wait: set.LeaseWait, Poll: set.leasePoll, Log: set.Log})
}

// recoverJournal waits for Packer processes an interrupted templated left,
// then finishes or rolls back the operations its journal holds.
func (r *run) recoverJournal(ctx context.Context, d *state.Desired, onRecover func(int)) error {
	n, err := r.tools.ReapOrphans(ctx)
	if n > 0 {
		r.set.Log.WithField("count", n).Warn("waited for Packer processes left by an interrupted templated")
	}
	if err != nil {
		return err
	}
	pending, err := r.exec.Journal.Pending()
	if err != nil || len(pending) == 0 {
		return err
	}
	if onRecover != nil {
		onRecover(len(pending))
	}
	if err := r.exec.Recover(ctx, d); err != nil {
		return fmt.Errorf("recover interrupted operations: %w", err)
	}
	return nil
}
