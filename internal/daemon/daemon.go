package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"

	"templated/internal/state"
)

// ErrAborted is returned by Run when Options.Abort was closed.
var ErrAborted = errors.New("daemon aborted")

// Daemon is the reconcile loop with its triggers, its observability and
// its own small state. Create it with New and start it with Run.
type Daemon struct {
	opts     Options
	log      logrus.FieldLogger
	ledger   Ledger
	notify   Notifier
	met      *metrics
	gatherer prometheus.Gatherer

	desired atomic.Pointer[state.Desired]
	q       *triggers
	bo      *backoff
	started atomic.Bool

	// cron is owned by the loop goroutine.
	cron *cron.Cron

	mu   sync.Mutex
	v    view
	addr net.Addr
}

// New checks opts, fills defaults and registers the metrics. It starts
// nothing.
func New(opts Options) (*Daemon, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		opts:   opts,
		log:    opts.Log.WithField("component", "daemon"),
		ledger: opts.Ledger,
		notify: opts.Notifier,
		q:      newTriggers(),
		bo:     newBackoff(opts.Backoff),
		v:      newView(),
	}
	if d.ledger == nil {
		d.ledger = nopLedger{}
	}
	if d.notify == nil {
		d.notify = &SystemdNotifier{Log: d.log}
	}
	reg := opts.Registry
	if reg == nil {
		reg = NewRegistry()
	}
	if g, ok := reg.(prometheus.Gatherer); ok {
		d.gatherer = g
	}
	if d.met, err = newMetrics(reg, d); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	return d, nil
}

// Run loads the desired file, starts the watcher, the HTTP listener and the
// loop, and reconciles until ctx is cancelled. A desired file that is
// missing or invalid at start is rejected (logged, recorded) and the daemon
// waits, not ready, until a valid one appears (a change or SIGHUP). On
// cancellation no new run starts, the run in flight sees its context
// cancelled, and Run returns nil once it has ended. When Options.Abort is
// closed Run returns ErrAborted at once.
func (d *Daemon) Run(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("daemon: Run called twice")
	}
	d.loadInitial(ctx)
	var ln net.Listener
	if d.opts.Listen != "" {
		var err error
		if ln, err = listenLoopback(d.opts.Listen); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		d.mu.Lock()
		d.addr = ln.Addr()
		d.mu.Unlock()
		d.log.WithField("addr", ln.Addr().String()).Info("serving /healthz, /readyz, /metrics and /status")
	}
	w := d.opts.Watcher
	if w == nil {
		var err error
		if w, err = NewDirWatcher(d.opts.WatchDirs, d.opts.Log); err != nil {
			if ln != nil {
				ln.Close()
			}
			return err
		}
	}

	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var srv *http.Server
	if ln != nil {
		srv = newHTTPServer(d.Handler())
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.WithError(err).Error("http listener stopped")
			}
		})
	}
	wg.Go(func() { d.pump(inner, w.Changes()) })
	if d.opts.Auditor != nil {
		wg.Go(func() { d.auditLoop(inner) })
	}
	if iv := watchdogInterval(d.notify); iv > 0 {
		wg.Go(func() { d.watchdog(inner, iv) })
	}

	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		d.loop(ctx)
	}()
	select {
	case <-loopDone:
	case <-d.opts.Abort:
		d.log.Warn("aborting without waiting for the run in flight")
		cancel()
		w.Close()
		if srv != nil {
			srv.Close()
		}
		return ErrAborted
	}
	d.setPhase(phaseStopped, "stopped")
	cancel()
	if srv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(sctx) //nolint:errcheck // stopping anyway
		scancel()
	}
	err := w.Close()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("close watcher: %w", err)
	}
	return nil
}

// Addr is the HTTP listener's address once Run has started it (nil
// before, or without Options.Listen).
func (d *Daemon) Addr() net.Addr {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addr
}

// Desired is the desired state in force (nil before Run loaded it).
func (d *Daemon) Desired() *state.Desired { return d.desired.Load() }

// loop runs one reconcile per coalesced trigger until ctx is cancelled.
func (d *Daemon) loop(ctx context.Context) {
	d.cron = startCron(d.desired.Load(), d.q, d.log)
	defer func() { stopCron(d.cron) }()
	interval := time.NewTimer(d.opts.Interval)
	defer interval.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()

	d.q.addReason(ReasonStart)
	for {
		select {
		case <-ctx.Done():
			d.stopping()
			return
		case <-interval.C:
			d.q.addReason(ReasonInterval)
		case <-retry.C:
			d.q.addReason(ReasonRetry)
		case <-d.q.kick:
			t, ok := d.q.take()
			if !ok {
				continue
			}
			if ctx.Err() != nil {
				d.stopping()
				return
			}
			wait, ran := d.runOnce(ctx, t)
			if !ran {
				// Nothing ran (no valid desired file): a pending retry
				// or interval still stands.
				continue
			}
			// Timers that fired during the run are superseded by it.
			interval.Reset(d.opts.Interval)
			retry.Stop()
			if wait > 0 {
				retry.Reset(wait)
			}
		}
	}
}

func (d *Daemon) stopping() {
	notifyStopping(d.notify)
	d.setPhase(phaseStopping, "stopping")
}

// pump turns changes under the watched directories into one debounced
// file trigger, and reload requests into reload triggers. A steady stream
// of changes still triggers after ten debounce periods.
func (d *Daemon) pump(ctx context.Context, changes <-chan string) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	maxWait := 10 * d.opts.Debounce
	var first time.Time
	armed := false
	for {
		select {
		case <-ctx.Done():
			return
		case p, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			d.log.WithField("path", p).Debug("change seen")
			if d.opts.ChangeReason == ReasonRevision {
				// A new revision is one atomic swap, not a burst of
				// editor writes: nothing to wait for.
				d.q.addReason(ReasonRevision)
				continue
			}
			now := time.Now()
			if !armed {
				first, armed = now, true
			}
			timer.Reset(min(d.opts.Debounce, max(first.Add(maxWait).Sub(now), 0)))
		case <-timer.C:
			armed = false
			d.q.addReason(d.opts.ChangeReason)
		case <-d.opts.Reload:
			d.log.Info("reload requested")
			d.q.addReason(ReasonReload)
		}
	}
}

// watchdog pings the service manager every iv.
func (d *Daemon) watchdog(ctx context.Context, iv time.Duration) {
	t := time.NewTicker(iv)
	defer t.Stop()
	d.notify.Watchdog()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.notify.Watchdog()
		}
	}
}
