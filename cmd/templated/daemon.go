package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/daemon"
	"templated/internal/journal"
	"templated/internal/ledger"
	"templated/internal/plan"
	"templated/internal/proxmox"
	"templated/internal/reconcile"
	"templated/internal/state"
	"templated/internal/workspace"
)

func init() {
	register("daemon", "keep templates as desired: watch, schedule, reconcile (the systemd service)", runDaemon)
}

func runDaemon(ctx context.Context, env *cmdEnv, args []string) error {
	var a actFlags
	fs := newFlagSet("daemon", env.Stderr)
	a.register(fs, env)
	listen := fs.String("listen", orDefault(env.Getenv("TEMPLATED_LISTEN"), "127.0.0.1:9750"), "loopback `address` for /healthz, /readyz, /metrics and /status (\"\" for none)")
	interval := fs.Duration("interval", daemon.DefaultInterval, "safety-net reconcile `interval`")
	debounce := fs.Duration("debounce", daemon.DefaultDebounce, "quiet time after a file change before reconciling")
	failures := fs.Int("failure-limit", daemon.DefaultFailureLimit, "suspend a template after this many failed builds in a row")
	retention := fs.String("evidence-retention", orDefault(env.Getenv("TEMPLATED_EVIDENCE_RETENTION"), "0"), "prune build evidence older than this after each run (e.g. 400d; 0 keeps everything); each prune is a ledger entry")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := a.logger()
	if err != nil {
		return err
	}
	keep, err := state.ParseDuration(*retention)
	if err != nil || keep < 0 {
		return &usageError{msg: fmt.Sprintf("-evidence-retention %q: want a duration such as 400d, or 0", *retention)}
	}
	// The daemon is the one writer for its lifetime: the state lock and
	// the ledger stay held until it stops.
	j, err := journal.OpenJournal(a.stateDir)
	if err != nil {
		return err
	}
	unlock, err := j.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	r := &daemonReconciler{a: &a, journal: j, log: log, retention: keep}
	if err := r.reload(ctx); err != nil {
		return err
	}
	defer r.close()

	d, err := daemon.New(daemon.Options{
		DesiredPath: a.desired,
		WatchDirs:   []string{filepath.Dir(a.desired), a.packerRoot()},
		StateDir:    a.stateDir,
		Load:        workspace.LoadDesired,
		Reconciler:  r,
		Ledger:      r,
		OnReload:    r.reload,
		Interval:    *interval, Debounce: *debounce, FailureLimit: *failures,
		Reload: env.Reload, Abort: env.Abort, Log: log, Listen: *listen,
	})
	if err != nil {
		return err
	}
	log.WithFields(logrus.Fields{"desired": a.desired, "listen": *listen, "version": version}).Info("templated daemon starting")
	if err := d.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("templated daemon stopped")
	return nil
}

// daemonReconciler is one reconcile of the daemon: observe, plan, record
// the decision, build and swap. It holds the cluster connection and the
// ledger, both re-read on SIGHUP.
type daemonReconciler struct {
	a         *actFlags
	journal   *journal.Journal
	log       logrus.FieldLogger
	retention time.Duration // prune evidence older than this after each run (0: never)

	mu  sync.Mutex
	cur *actorState
}

// actorState is what a reload builds.
type actorState struct {
	cluster *proxmox.Client
	config  proxmox.Config
	led     *ledger.Ledger
}

// reload (re)reads the connection settings and (re)opens the ledger. Bad
// connection settings keep what was in force. The ledger must be closed
// before it is reopened (it holds the writer lock); if reopening fails,
// runs fail until a reload succeeds, so nothing is built unrecorded.
func (r *daemonReconciler) reload(ctx context.Context) error {
	cl, cfg, err := r.a.connect()
	if err != nil {
		return fmt.Errorf("reload connection settings: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil && r.cur.led != nil {
		r.cur.led.Close()
		r.cur.led = nil // until reopened: runs fail rather than act unrecorded
	}
	led, err := r.a.openLedger(ctx, r.log, cfg.TokenSecret.Reveal())
	if err != nil {
		return err
	}
	r.cur = &actorState{cluster: cl, config: cfg, led: led}
	return nil
}

func (r *daemonReconciler) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil && r.cur.led != nil {
		r.cur.led.Close()
	}
}

func (r *daemonReconciler) state() *actorState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// Reconcile implements daemon.Reconciler.
func (r *daemonReconciler) Reconcile(ctx context.Context, req daemon.Request) (daemon.Outcome, error) {
	st := r.state()
	if st == nil || st.led == nil {
		return daemon.Outcome{}, errors.New("the evidence ledger is not open (see the last reload's error); nothing is done unrecorded")
	}
	d := req.Desired
	runner, err := r.a.runner()
	if err != nil {
		return daemon.Outcome{}, err
	}
	inputs, pv, err := r.a.inputs(ctx, d, runner)
	if err != nil {
		return daemon.Outcome{}, err
	}
	s := &session{desired: d, inputs: inputs, packerVersion: pv, cluster: st.cluster, config: st.config, runner: runner}
	rec := newRecorder(ctx, st.led, r.a.desired, pv, r.a.pluginVersions(ctx, runner, r.log), r.a.env.Getenv)
	// The writer's pipe and goroutine live until it is closed: close it
	// after each run, or every run leaks one until the GC finds it.
	progress := r.log.WithField("component", "packer").WriterLevel(logrus.InfoLevel)
	defer progress.Close()
	exec := r.a.executor(s, rec, r.journal, r.log, progress)
	if err := r.a.reapOrphans(ctx); err != nil {
		return daemon.Outcome{}, err
	}
	if err := exec.Recover(ctx, d); err != nil {
		if isClusterError(err) {
			return daemon.Outcome{APIErrors: 1}, daemon.Unreachable(err)
		}
		return daemon.Outcome{}, err
	}
	p, err := s.observe(ctx, &r.a.common)
	if err != nil {
		if isClusterError(err) {
			return daemon.Outcome{APIErrors: 1}, daemon.Unreachable(err)
		}
		return daemon.Outcome{}, err
	}
	req.Observed()
	if err := rec.Decision(ctx, d, p, req.Trigger.String()); err != nil {
		return daemon.Outcome{Observed: true}, fmt.Errorf("record decision: %w", err)
	}
	rep, err := exec.Apply(ctx, d, p)
	if err != nil {
		return daemon.Outcome{Observed: true}, err
	}
	// Failed builds make the run a failure (logs, metrics); the daemon
	// counts them per template from the outcome.
	var failed []error
	for _, res := range rep.Failed() {
		failed = append(failed, fmt.Errorf("%s: %w", res.Template, res.Err))
	}
	if r.retention > 0 {
		if _, _, err := st.led.Prune(ctx, r.retention); err != nil {
			failed = append(failed, fmt.Errorf("prune evidence: %w", err))
		}
	}
	return outcome(p, rep, time.Now()), errors.Join(failed...)
}

// outcome turns a plan and its execution into the daemon's view.
func outcome(p plan.Plan, rep reconcile.Report, now time.Time) daemon.Outcome {
	results := map[string]reconcile.Result{}
	for _, x := range rep.Results {
		results[x.Template] = x
	}
	out := daemon.Outcome{Observed: true}
	for _, a := range p.Actions {
		t := daemon.TemplateOutcome{Name: a.Template, VMID: a.VMID, Release: a.Release, Action: daemon.Action(a.Kind),
			Reason: reasonMessages(a), Build: daemon.BuildNone, Drift: drift(a), InputsHash: a.InputsHash}
		if a.Current != nil && a.Current.BuiltAt != nil {
			t.BuiltAt = *a.Current.BuiltAt
		}
		if res, ok := results[a.Template]; ok {
			t.Duration = res.Duration
			if res.Err != nil {
				t.Build, t.Error = daemon.BuildFailure, res.Err.Error()
				if isClusterError(res.Err) {
					out.APIErrors++
				}
			} else {
				t.Build, t.BuiltAt, t.Drift = daemon.BuildSuccess, now, "none"
			}
		}
		out.Templates = append(out.Templates, t)
	}
	return out
}

func reasonMessages(a plan.Action) string {
	var s string
	for i, r := range a.Reasons {
		if i > 0 {
			s += "; "
		}
		s += r.Message
	}
	return s
}

// drift is one word for a plan action: none, missing, stale, drifted, blocked.
func drift(a plan.Action) string {
	switch a.Kind {
	case plan.Keep:
		return "none"
	case plan.Create:
		return "missing"
	case plan.Blocked:
		return "blocked"
	}
	for _, r := range a.Reasons {
		if r.Code != plan.ReasonMaxAge && r.Code != plan.ReasonPatchDue {
			return "drifted"
		}
	}
	return "stale"
}

// isClusterError reports whether err says Proxmox is unreachable or failing
// rather than one build going wrong.
func isClusterError(err error) bool {
	for _, k := range []error{proxmox.ErrUnreachable, proxmox.ErrTLS, proxmox.ErrAuth, proxmox.ErrTimeout, proxmox.ErrAPI} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// RecordRejected implements daemon.Recorder.
func (r *daemonReconciler) RecordRejected(ctx context.Context, path, sha string, err error) error {
	return r.append(ctx, ledger.Entry{Kind: ledger.KindDesiredRejected, Result: "rejected", Error: err.Error(),
		Desired: &ledger.Desired{File: path, SHA256: sha}})
}

// RecordSuspended implements daemon.Recorder.
func (r *daemonReconciler) RecordSuspended(ctx context.Context, template, reason string) error {
	return r.append(ctx, ledger.Entry{Kind: ledger.KindSuspend, Template: template, Result: "suspended",
		Detail: map[string]string{"reason": reason}})
}

// RecordReleased implements daemon.Recorder.
func (r *daemonReconciler) RecordReleased(ctx context.Context, template, why string) error {
	return r.append(ctx, ledger.Entry{Kind: ledger.KindResume, Template: template, Result: "released",
		Detail: map[string]string{"reason": why}})
}

func (r *daemonReconciler) append(ctx context.Context, e ledger.Entry) error {
	st := r.state()
	if st == nil || st.led == nil {
		return errors.New("ledger not open")
	}
	_, err := st.led.Append(ctx, e)
	return err
}
