package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"templated/internal/state"
)

// Defaults for the zero values of Options.
const (
	DefaultInterval       = 10 * time.Minute
	DefaultDebounce       = 500 * time.Millisecond
	DefaultFailureLimit   = 3
	DefaultBackoffInitial = 5 * time.Second
	DefaultBackoffMax     = 5 * time.Minute
)

// Options configure a Daemon. DesiredPath, StateDir, Load and Reconciler
// are required; everything else has a default.
type Options struct {
	// DesiredPath is desired/templates.yaml.
	DesiredPath string
	// WatchDirs are the directories whose changes trigger a reload and a
	// reconcile: the desired file's directory and the Packer workspace.
	// They are watched recursively (default: the desired file's
	// directory). Ignored when Watcher is set.
	WatchDirs []string
	// StateDir holds the daemon's own state (suspensions.json). systemd's
	// StateDirectory=templated gives /var/lib/templated.
	StateDir string
	// Load parses and validates a desired file; its error lists every
	// problem.
	Load func(path string) (*state.Desired, error)
	// Reconciler runs one reconcile.
	Reconciler Reconciler
	// Ledger records what the daemon decides on its own (nil: nothing is
	// recorded).
	Ledger Ledger
	// Announcer is told of failed and succeeded builds, suspensions,
	// stale templates, image updates and ledger audits that need a
	// person (nil: nobody is told).
	Announcer Announcer
	// Auditor checks the ledger's whole history in the background, at
	// start and every AuditInterval (nil: never).
	Auditor       Auditor
	AuditInterval time.Duration
	// OnReload is called on SIGHUP before the desired file is re-read, to
	// re-read other configuration. Its error is logged; the reload of the
	// desired file goes on.
	OnReload func(ctx context.Context) error

	// Interval is the safety-net resync period, counted from the end of
	// the last run (a run resets it).
	Interval time.Duration
	// Debounce is how long the watched directories must stay quiet before
	// a change triggers a run.
	Debounce time.Duration
	// FailureLimit suspends a template after that many consecutive failed
	// builds.
	FailureLimit int
	// Backoff paces retries while Proxmox is unreachable.
	Backoff Backoff
	// ReadyStale is how old the last successful observation may be while
	// /readyz still answers 200 and no run is in flight (default: three
	// intervals).
	ReadyStale time.Duration

	// Notifier tells the service manager what the daemon does (nil: the
	// systemd notifier, which does nothing without NOTIFY_SOCKET).
	Notifier Notifier
	// Watcher reports changes (nil: a DirWatcher over WatchDirs).
	Watcher Watcher
	// ChangeReason is the trigger reason of a change the Watcher reports
	// (default ReasonFile; ReasonRevision for a followed git remote, whose
	// changes are not debounced and always re-read the desired file).
	ChangeReason Reason
	// Handlers are extra routes on the listener (pattern → handler), such
	// as the git push webhook.
	Handlers map[string]http.Handler
	// Git describes the git remote the desired state is fetched from, for
	// /status (nil: a working copy).
	Git func() *GitStatus
	// Checkpoint describes the evidence ledger's newest checkpoint, for
	// /status and the status page (nil, or a nil answer: none).
	Checkpoint func() *CheckpointStatus
	// Reload receives a value per SIGHUP.
	Reload <-chan struct{}
	// Abort, when closed, makes Run return at once without waiting for the
	// run in flight (the second SIGTERM).
	Abort <-chan struct{}
	// Log receives the daemon's logs (nil: discarded).
	Log logrus.FieldLogger
	// Listen is the loopback address of the HTTP listener ("" for none).
	Listen string
	// Registry receives the daemon's metrics and must also be a
	// prometheus.Gatherer to be served on /metrics (nil: a private
	// registry with the Go and process collectors).
	Registry prometheus.Registerer
}

// Backoff is an exponential backoff with jitter: the n-th retry waits a
// random duration in [d/2, d] where d = min(Initial·2ⁿ, Max).
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// withDefaults fills zero fields and checks the required ones.
func (o Options) withDefaults() (Options, error) {
	var missing []string
	if o.DesiredPath == "" {
		missing = append(missing, "DesiredPath")
	}
	if o.StateDir == "" {
		missing = append(missing, "StateDir")
	}
	if o.Load == nil {
		missing = append(missing, "Load")
	}
	if o.Reconciler == nil {
		missing = append(missing, "Reconciler")
	}
	if len(missing) > 0 {
		return o, fmt.Errorf("daemon options: missing %v", missing)
	}
	if o.Watcher == nil && len(o.WatchDirs) == 0 {
		o.WatchDirs = []string{filepath.Dir(o.DesiredPath)}
	}
	if o.ChangeReason == "" {
		o.ChangeReason = ReasonFile
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.FailureLimit <= 0 {
		o.FailureLimit = DefaultFailureLimit
	}
	if o.Backoff.Initial <= 0 {
		o.Backoff.Initial = DefaultBackoffInitial
	}
	if o.Backoff.Max <= 0 {
		o.Backoff.Max = DefaultBackoffMax
	}
	if o.Backoff.Max < o.Backoff.Initial {
		return o, errors.New("daemon options: Backoff.Max is less than Backoff.Initial")
	}
	if o.AuditInterval <= 0 {
		o.AuditInterval = DefaultAuditInterval
	}
	if o.ReadyStale <= 0 {
		o.ReadyStale = 3 * o.Interval
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = l
	}
	if o.Listen != "" {
		if err := checkLoopback(o.Listen); err != nil {
			return o, fmt.Errorf("daemon options: listen: %w", err)
		}
	}
	return o, nil
}
