package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"

	"templated/internal/daemon"
	"templated/internal/doctor"
	"templated/internal/session"
	"templated/internal/state"
	"templated/internal/workspace"
)

func runDaemon(ctx context.Context, env *cmdEnv, args []string) error {
	var a actFlags
	var g gitFlags
	fs := newFlagSet("daemon", env.Stderr)
	a.register(fs, env)
	g.register(fs)
	listen := fs.String("listen", cmp.Or(env.Getenv("TEMPLATED_LISTEN"), "127.0.0.1:9750"), "loopback `address` for /healthz, /readyz, /metrics and /status (\"\" for none)")
	interval := fs.Duration("interval", daemon.DefaultInterval, "safety-net reconcile `interval`")
	debounce := fs.Duration("debounce", daemon.DefaultDebounce, "quiet time after a file change before reconciling")
	failures := fs.Int("failure-limit", daemon.DefaultFailureLimit, "suspend a template after this many failed builds in a row")
	audit := fs.Duration("ledger-audit-interval", daemon.DefaultAuditInterval, "check the evidence ledger's whole history in the background this often (also at start)")
	retention := fs.String("evidence-retention", cmp.Or(env.Getenv("TEMPLATED_EVIDENCE_RETENTION"), "0"), "prune build evidence older than this after each run (e.g. 400d; 0 keeps everything); each prune is a ledger entry")
	startDoctor := fs.Bool("doctor", true, "run doctor's checks at start, logging and announcing those that fail")
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
	gs, following, err := g.resolve(&a.common)
	if err != nil {
		return err
	}
	if following {
		// The desired state comes from the remote: the revision in force,
		// fetched into the state directory, not the working directory.
		a.desired = gitDesiredPath(gs)
	}
	// The daemon is the one writer for its lifetime: the state lock and
	// the ledger stay held until it stops; SIGHUP re-reads the connection
	// and reopens the ledger.
	set, err := a.settings()
	if err != nil {
		return err
	}
	// doctor's checks once, before the state lock is taken (doctor checks
	// that it is free); their failures are logged and announced.
	var doctorFailed []doctor.Result
	if *startDoctor {
		doctorFailed = startupDoctor(ctx, &a.common, log)
	}
	sess, err := session.Open(ctx, set)
	if err != nil {
		return err
	}
	defer sess.Close()
	r := &session.DaemonReconciler{Session: sess, Retention: keep, Log: log}
	notes, err := openNotifications(&a.common, r, sess.Installation(), log)
	if err != nil {
		return err
	}
	nctx, stopNotes := context.WithCancel(ctx)
	waitNotes := notes.run(nctx)
	defer func() { stopNotes(); waitNotes() }()
	reg := daemon.NewRegistry()
	opts := daemon.Options{
		DesiredPath: a.desired,
		WatchDirs:   []string{filepath.Dir(a.desired), workspace.DefaultRoot(a.desired)},
		Load:        workspace.LoadDesired,
	}
	var src *gitDaemon
	if following {
		if src, err = newGitDaemon(gs, r, reg, log); err != nil {
			return err
		}
		opts = daemon.Options{DesiredPath: a.desired, Watcher: src.src, ChangeReason: daemon.ReasonRevision,
			Load: src.load, Git: src.status}
		if opts.Handlers, err = src.handlers(gs.webhookSecret, log); err != nil {
			return err
		}
	}
	opts.Load = notes.load(opts.Load)
	opts.Announcer = &session.Announcer{Notifier: notes.disp, Log: log}
	opts.StateDir, opts.Reconciler, opts.Ledger, opts.Auditor, opts.AuditInterval = a.stateDir, r, r, r, *audit
	opts.Checkpoint = r.Checkpoint
	opts.OnReload = func(ctx context.Context) error {
		if src != nil {
			src.src.Kick() // SIGHUP also fetches at once
		}
		notes.reconfigure()
		set, err := a.settings()
		if err != nil {
			return fmt.Errorf("reload connection settings: %w", err)
		}
		return sess.Reload(ctx, set)
	}
	opts.Interval, opts.Debounce, opts.FailureLimit = *interval, *debounce, *failures
	opts.Reload, opts.Abort, opts.Log, opts.Listen, opts.Registry = env.Reload, env.Abort, log, *listen, reg
	d, err := daemon.New(opts)
	if err != nil {
		return err
	}
	announceDoctor(ctx, opts.Announcer, doctorFailed)
	log.WithFields(logrus.Fields{"desired": a.desired, "listen": *listen, "version": version}).Info("templated daemon starting")
	if src != nil {
		sctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			src.src.Run(sctx) //nolint:errcheck // it returns the context's error
		}()
		defer func() { stop(); <-done }()
	}
	if err := d.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("templated daemon stopped")
	return nil
}

// announceDoctor tells of the checks that failed at start, in one
// announcement naming them.
func announceDoctor(ctx context.Context, ann daemon.Announcer, failed []doctor.Result) {
	if ann == nil || len(failed) == 0 {
		return
	}
	ids := make([]string, len(failed))
	for i, r := range failed {
		ids[i] = r.ID
	}
	ann.Announce(ctx, daemon.Announcement{Kind: state.NotifyDoctorFailed, Reason: strings.Join(ids, ","),
		Message: fmt.Sprintf("templated doctor at daemon start: %d check(s) failed: %s: %s", len(failed), failed[0].ID, failed[0].Message)})
}
