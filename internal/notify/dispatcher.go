package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/redact"
	"templated/internal/state"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxPending     = 1000
	DefaultBackoffInitial = 5 * time.Second
	DefaultBackoffMax     = 10 * time.Minute
)

// ErrClosed is returned by Notify after Close.
var ErrClosed = errors.New("notify: dispatcher closed")

// Backoff paces retries to a sink that fails: the n-th consecutive
// failure waits a random duration in [d/2, d], d = min(Initial·2ⁿ⁻¹, Max),
// or longer when the receiver says so (Retry-After, at most an hour).
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// Options configure a Dispatcher. Dir is required.
type Options struct {
	// Dir holds the queue (pending/), the grouping state (groups.json)
	// and the lock that keeps a second process out: <state dir>/notify.
	Dir string
	// Installation names this templated in every event.
	Installation string
	// Recorder is told of each delivery and each give-up (nil: nobody).
	Recorder Recorder
	// Log receives the dispatcher's logs (nil: discarded). It never
	// carries a secret.
	Log logrus.FieldLogger
	// Now is the clock (nil: time.Now); Rand draws the backoff's jitter
	// in [0, 1) (nil: math/rand/v2).
	Now  func() time.Time
	Rand func() float64
	// MaxPending bounds the queue: when it is full, the oldest delivery
	// is given up (default DefaultMaxPending).
	MaxPending int
	Backoff    Backoff
	// Sink tunes the HTTP side (client, timeout, user agent) and receives
	// the secret values to redact. Its Now defaults to Now.
	Sink SinkOptions
}

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("notify options: missing Dir")
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = l
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.Backoff.Initial <= 0 {
		o.Backoff.Initial = DefaultBackoffInitial
	}
	if o.Backoff.Max < o.Backoff.Initial {
		o.Backoff.Max = max(DefaultBackoffMax, o.Backoff.Initial)
	}
	if o.Sink.Now == nil {
		o.Sink.Now = o.Now
	}
	if o.Sink.Redact == nil {
		o.Sink.Redact = &redact.Secrets{}
	}
	return o, nil
}

// Dispatcher routes events to sinks through a durable queue. Notify
// enqueues; Run delivers. It is safe for concurrent use.
type Dispatcher struct {
	opts Options
	lock *os.File
	log  logrus.FieldLogger
	wake chan struct{}

	mu     sync.Mutex
	cfg    config
	queue  *queue
	groups *groups
	sinks  map[string]*sinkState
	closed bool
}

// config is the notifications section with its sinks built.
type config struct {
	sinks   map[string]configured
	routes  []state.NotifyRoute
	repeat  time.Duration
	giveUp  time.Duration
	status  string
	runbook string
}

type configured struct {
	sink Sink
	typ  string
}

// sinkState is a sink's backoff.
type sinkState struct {
	failures int
	nextAt   time.Time
	busy     bool // a delivery goroutine works on it
}

// New opens the queue in opts.Dir (what an earlier process left pending
// is delivered by Run) and configures the sinks and routes of n (nil:
// none yet), resolving their secrets. Only one Dispatcher may use a
// directory at a time.
func New(n *state.Notifications, secrets Secrets, opts Options) (*Dispatcher, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	d := &Dispatcher{opts: opts, lock: lock, log: opts.Log.WithField("component", "notify"),
		wake: make(chan struct{}, 1), sinks: map[string]*sinkState{}}
	if d.queue, err = openQueue(filepath.Join(opts.Dir, "pending"), d.log); err == nil {
		d.groups, err = loadGroups(filepath.Join(opts.Dir, "groups.json"))
	}
	if err == nil {
		err = d.Reconfigure(n, secrets)
	}
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("notify: %w", err)
	}
	return d, nil
}

// lockDir takes the directory's lock without waiting.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("notify: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("notify: another process delivers the notifications queued in %s: %w", dir, err)
	}
	return f, nil
}

// Reconfigure replaces the sinks and routes with n's (a reloaded desired
// file). On error the old configuration stays. Deliveries pending for a
// sink n no longer declares wait for it until they are given up.
func (d *Dispatcher) Reconfigure(n *state.Notifications, secrets Secrets) error {
	cfg := config{sinks: map[string]configured{}, repeat: state.DefaultRepeatInterval, giveUp: state.DefaultGiveUpAfter}
	if n != nil {
		sinks, err := NewSinks(n, secrets, d.opts.Sink)
		if err != nil {
			return err
		}
		for i, s := range sinks {
			cfg.sinks[s.Name()] = configured{sink: s, typ: n.Sinks[i].Type}
		}
		cfg.routes, cfg.status, cfg.runbook = n.Routes, n.StatusURL, n.RunbookURL
		if n.RepeatInterval > 0 {
			cfg.repeat = n.RepeatInterval
		}
		if n.GiveUpAfter > 0 {
			cfg.giveUp = n.GiveUpAfter
		}
	}
	d.mu.Lock()
	d.cfg = cfg
	d.mu.Unlock()
	d.poke()
	return nil
}

// Notify routes e and queues one delivery per sink that takes it, unless
// an identical event went out less than the repeat interval ago. It
// fills e's schema, id, time, severity, installation and links, writes
// each delivery durably, and does not wait for the network.
func (d *Dispatcher) Notify(ctx context.Context, e Event) error {
	now := d.opts.Now()
	e, err := complete(e, now, d.opts.Installation, d.opts.Sink.Redact)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	send, changed := d.groups.decide(&e, now, d.cfg.repeat)
	var errs []error
	var given []Delivery
	if send {
		e.Links = append(e.Links, d.cfg.links(e)...)
		for _, name := range d.cfg.route(e) {
			g, err := d.enqueue(e, name, now)
			errs, given = append(errs, err), append(given, g...)
		}
	}
	if changed {
		errs = append(errs, d.groups.save())
	}
	d.mu.Unlock()
	d.record(ctx, given)
	d.poke()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("notify %s: %w", e.Kind, err)
	}
	return nil
}

// enqueue writes a delivery of e to sink, first giving up the oldest
// pending ones while the queue is full.
func (d *Dispatcher) enqueue(e Event, sink string, now time.Time) ([]Delivery, error) {
	var given []Delivery
	for len(d.queue.items) >= d.opts.MaxPending {
		i := 0
		for i < len(d.queue.items) && d.queue.items[i].busy {
			i++
		}
		if i == len(d.queue.items) {
			break
		}
		old := d.queue.items[i]
		given = append(given, d.end(old, GaveUp, fmt.Sprintf("queue full: %d deliveries pending", len(d.queue.items))))
	}
	return given, d.queue.add(&item{Event: e, Sink: sink, Enqueued: now, NextAt: now})
}

// route names the sinks that take e, each once, in route order. Test
// events go to every sink; a recovery goes where failed builds go.
func (c config) route(e Event) []string {
	var out []string
	add := func(name string) {
		if _, ok := c.sinks[name]; ok && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	if e.Kind == state.NotifyTest {
		for _, name := range slices.Sorted(maps.Keys(c.sinks)) {
			add(name)
		}
		return out
	}
	for _, r := range c.routes {
		if r.Takes(e.Kind, e.Template) || e.Recovery && r.Takes(state.NotifyBuildFailed, e.Template) {
			add(r.Sink)
		}
	}
	return out
}

// runbooks are the pages below runbook_url each kind links to.
var runbooks = map[string]string{
	state.NotifyBuildFailed:      "runbook-build-failure.md",
	state.NotifySuspended:        "alerts.md#templatedtemplatesuspended",
	state.NotifyStale:            "alerts.md#templatedtemplatestale",
	state.NotifyLedgerFailed:     "alerts.md#templatedledgerverifyfailing",
	state.NotifyWitnessDisagrees: "alerts.md#templatedledgerverifyfailing",
	state.NotifyDoctorFailed:     "operations.md#install",
	state.NotifyTest:             "notifications.md",
}

// links are the runbook and status page links the configuration gives e.
func (c config) links(e Event) []Link {
	var out []Link
	if page, ok := runbooks[e.Kind]; ok && c.runbook != "" && !e.Recovery {
		out = append(out, Link{Name: "Runbook", URL: joinURL(c.runbook, page)})
	}
	if c.status != "" {
		out = append(out, Link{Name: "Status page", URL: c.status})
	}
	return out
}

// joinURL appends page to base, a folder.
func joinURL(base, page string) string {
	if base[len(base)-1] != '/' {
		base += "/"
	}
	return base + page
}

// Pending returns how many deliveries wait in the queue.
func (d *Dispatcher) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.queue.items)
}

// Close releases the queue directory; Notify fails afterwards. Cancel
// Run's context and wait for it first: what is pending stays on disk for
// the next Dispatcher.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.lock.Close()
}

// poke wakes Run.
func (d *Dispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}
