package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/journal"
	"templated/internal/plan"
	"templated/internal/state"
)

// Executor carries out a plan: every create or rebuild is built at a
// staging VMID, verified, and swapped in at the reserved VMID, so that a
// failed build never leaves the reserved VMID empty. Each step is written
// to the journal before it starts and to the ledger when it ends.
type Executor struct {
	Cluster  Cluster
	Builder  Builder
	Recorder Recorder
	Journal  *journal.Journal
	Log      logrus.FieldLogger
	// Progress receives one line per step and template, for people.
	Progress io.Writer
	// Parallel bounds builds overall, PerNode per Proxmox node (both ≥ 1).
	Parallel int
	PerNode  int
	// KeepFailed leaves a failed build's staging VM for debugging.
	KeepFailed bool
	// Commit is the git commit the desired state came from (for stamps).
	Commit string
	// Installation names this templated installation (journal.
	// InstallationID) in every stamp; clean-up deletes only guests whose
	// stamp and name claim them for this installation and build.
	Installation string
	// LeaseVMID is the cluster lease's VMID (internal/lease), which
	// allocate never hands out, even while no lease guest is there; 0
	// for none.
	LeaseVMID int
	// Images makes the images builds need present (nil: a plan that
	// needs an image fails those builds). Resolved is what each desired
	// image resolved to when the plan was made, by name; the executor
	// acts on it only where it matches the plan's checksum.
	Images   ImageStore
	Resolved map[string]state.ResolvedImage
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Retry is how often a swap step is tried before giving up (default 3)
	// and RetryWait the first pause between tries (doubling).
	Retry     int
	RetryWait time.Duration

	mu       sync.Mutex
	outMu    sync.Mutex   // serialises writes to Progress from parallel builds
	reserved map[int]bool // staging and previous VMIDs taken by builds in flight
	flights  map[string]*imageFlight
	ranges   state.VMIDRanges
}

// Result is the outcome for one template.
type Result struct {
	Template   string
	Action     plan.Kind
	BuildID    string
	Err        error
	Duration   time.Duration
	SwapWindow time.Duration
	// Step is the last step reached.
	Step journal.Step
}

// Report is the outcome of Apply.
type Report struct {
	Results []Result
}

// Failed returns the results that failed.
func (r Report) Failed() []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Err != nil {
			out = append(out, x)
		}
	}
	return out
}

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Executor) log() logrus.FieldLogger {
	if e.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		return l
	}
	return e.Log
}

func (e *Executor) progress(name string, step journal.Step, started time.Time, format string, args ...any) {
	if e.Progress == nil {
		return
	}
	el := e.now().Sub(started).Round(time.Second)
	_, _ = e.output().Write([]byte(fmt.Sprintf("%s: [%s %s] %s\n", name, step, el, fmt.Sprintf(format, args...))))
}

// output returns Progress made safe for the parallel builds (each write is
// one whole line from one build).
func (e *Executor) output() io.Writer {
	if e.Progress == nil {
		return io.Discard
	}
	return lockedWriter{mu: &e.outMu, w: e.Progress}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Apply carries out every create and rebuild in p, in parallel within the
// limits, and returns one Result per action that changes the cluster. The
// error is non-nil only when Apply could not start; per-template failures
// are in the Report.
func (e *Executor) Apply(ctx context.Context, d *state.Desired, p plan.Plan) (Report, error) {
	if e.Cluster == nil || e.Builder == nil || e.Journal == nil || e.Recorder == nil {
		return Report{}, errors.New("executor: cluster, builder, journal and recorder are required")
	}
	e.ranges = d.VMIDs
	e.mu.Lock()
	e.flights = nil // each run looks at the cluster afresh
	e.mu.Unlock()
	// Templates first; then the replicas, which copy their template's
	// build (the one just swapped in, or the one already there).
	var templates, replicas []plan.Action
	for _, a := range p.Actions {
		switch {
		case !a.Kind.Changes():
		case a.ReplicaOf == "":
			templates = append(templates, a)
		default:
			replicas = append(replicas, a)
		}
	}
	var rep Report
	failed := map[string]bool{}
	for _, r := range e.runActions(ctx, templates, func(a plan.Action) (Result, bool) {
		t, ok := d.Template(a.Template)
		if !ok {
			return Result{}, false
		}
		return e.prepareAndBuild(ctx, d, t, a), true
	}) {
		failed[r.Template] = r.Err != nil
		rep.Results = append(rep.Results, r)
	}
	rep.Results = append(rep.Results, e.runActions(ctx, replicas, func(a plan.Action) (Result, bool) {
		t, r, ok := d.ReplicaOf(a.Template)
		if !ok {
			return Result{}, false
		}
		if failed[t.Name] {
			return Result{Template: a.Template, Action: a.Kind, Step: journal.StepAllocated,
				Err: fmt.Errorf("not placed: the build of %s failed in this run; the replica stays as it is and the next run places it", t.Name)}, true
		}
		return e.placeReplica(ctx, d, t, t.AsReplica(r), a), true
	})...)
	e.collectImages(ctx)
	sort.Slice(rep.Results, func(i, j int) bool { return rep.Results[i].Template < rep.Results[j].Template })
	return rep, nil
}

// runActions runs do for each action, in parallel within the limits
// (overall and per node), and returns the results do made (do reports
// false for an action it has nothing to do for).
func (e *Executor) runActions(ctx context.Context, actions []plan.Action, do func(plan.Action) (Result, bool)) []Result {
	overall := make(chan struct{}, max(e.Parallel, 1))
	perNode := map[string]chan struct{}{}
	for _, a := range actions {
		if _, ok := perNode[a.Node]; !ok {
			perNode[a.Node] = make(chan struct{}, max(e.PerNode, 1))
		}
	}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out []Result
	)
	for _, a := range actions {
		wg.Add(1)
		go func(a plan.Action) {
			defer wg.Done()
			// The node's slot first, then an overall one: a build waiting
			// for its busy node must not hold an overall slot that a build
			// for an idle node could use.
			var res Result
			ok := true
			select {
			case perNode[a.Node] <- struct{}{}:
				select {
				case overall <- struct{}{}:
					res, ok = do(a)
					<-overall
				case <-ctx.Done():
					res = Result{Template: a.Template, Action: a.Kind, Err: ctx.Err()}
				}
				<-perNode[a.Node]
			case <-ctx.Done():
				res = Result{Template: a.Template, Action: a.Kind, Err: ctx.Err()}
			}
			if ok {
				mu.Lock()
				out = append(out, res)
				mu.Unlock()
			}
		}(a)
	}
	wg.Wait()
	return out
}

// prepareAndBuild makes t's images present, then builds: a build whose
// images cannot be made present fails before anything is allocated, so
// the template at the reserved VMID stays as it is.
func (e *Executor) prepareAndBuild(ctx context.Context, d *state.Desired, t state.Template, a plan.Action) Result {
	start := e.now()
	p, err := e.prepareImages(ctx, d, t, a)
	if err != nil {
		err = fmt.Errorf("prepare images: %w", err)
		e.log().WithError(err).WithField("template", t.Name).Error("build not started")
		e.progress(t.Name, journal.StepImages, start, "failed: %v", err)
		return Result{Template: t.Name, Action: a.Kind, Err: err, Step: journal.StepImages, Duration: e.now().Sub(start)}
	}
	return e.buildGuarded(ctx, d, t, a, p)
}

// buildGuarded runs buildAndSwap and turns a panic into this template's
// failure, as controller-runtime does for a reconciler: one template's bug
// must not end the other builds in flight, nor the daemon. The journal
// keeps the operation at the step it reached, as after a crash, so the
// next run's recovery finishes or undoes it.
func (e *Executor) buildGuarded(ctx context.Context, d *state.Desired, t state.Template, a plan.Action, p prepared) (res Result) {
	defer func() {
		if r := recover(); r != nil {
			e.log().WithFields(logrus.Fields{"template": t.Name, "panic": fmt.Sprint(r), "stack": string(debug.Stack())}).
				Error("build panicked; its operation stays in the journal for the next run")
			res = Result{Template: t.Name, Action: a.Kind, Err: fmt.Errorf("internal error: panic: %v (the journal keeps the operation; the next run recovers it)", r)}
			if op, ok := e.pendingOp(t.Name); ok {
				res.BuildID, res.Step = op.BuildID, op.Step
			}
		}
	}()
	return e.buildAndSwap(ctx, d, t, a, p)
}

// pendingOp returns name's operation in the journal, if any.
func (e *Executor) pendingOp(name string) (journal.Op, bool) {
	op, ok, err := e.Journal.Get(name)
	return op, ok && err == nil
}

// newBuildID returns a sortable, unique build id: UTC time plus 4 random bytes.
func (e *Executor) newBuildID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return e.now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// allocate picks the lowest VMID in r that no guest uses, no build in
// flight has taken and that is not the lease's. It lists the cluster
// afresh.
func (e *Executor) allocate(ctx context.Context, r state.Range) (int, error) {
	guests, err := e.Cluster.ListGuests(ctx)
	if err != nil {
		return 0, fmt.Errorf("list guests: %w", err)
	}
	used := map[int]bool{}
	for _, g := range guests {
		used[g.VMID] = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.reserved == nil {
		e.reserved = map[int]bool{}
	}
	for id := r.First; id <= r.Last; id++ {
		if !used[id] && !e.reserved[id] && id != e.LeaseVMID {
			e.reserved[id] = true
			return id, nil
		}
	}
	return 0, fmt.Errorf("no free VMID in %d-%d: every one is in use", r.First, r.Last)
}

func (e *Executor) release(ids ...int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range ids {
		delete(e.reserved, id)
	}
}

// retry runs fn up to e.Retry times with a doubling pause, stopping early
// when ctx ends.
func (e *Executor) retry(ctx context.Context, what string, fn func() error) error {
	tries := e.Retry
	if tries <= 0 {
		tries = 3
	}
	wait := e.RetryWait
	if wait <= 0 {
		wait = 2 * time.Second
	}
	var err error
	for i := 0; i < tries; i++ {
		if err = fn(); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if i < tries-1 {
			e.log().WithError(err).WithField("step", what).Warn("step failed; retrying")
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return err
			}
			wait *= 2
		}
	}
	return err
}

// Names templated gives the guests it makes besides the templates.
// stagingName is the name Packer gives a build's staging VM. It ends in
// the build id's random part, so that it claims the VM for one build: a
// staging VM another build (or installation) left at the same VMID has
// another name and is never mistaken for this one.
func stagingName(t string, vmid int, buildID string) string {
	return fmt.Sprintf("%s-stg-%d-%s", t, vmid, buildID[strings.LastIndexByte(buildID, '-')+1:])
}

func previousName(t string, vmid int) string { return fmt.Sprintf("%s-prev-%d", t, vmid) }
