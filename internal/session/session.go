package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/image"
	"templated/internal/journal"
	"templated/internal/ledger"
	"templated/internal/plan"
	"templated/internal/reconcile"
	"templated/internal/state"
	"templated/internal/workspace"
)

// Session is templated's hold on one cluster. A reader (OpenReader) only
// plans; a writer (Open) holds the state directory's lock and the ledger
// for its life, and may act.
type Session struct {
	set     Settings
	journal *journal.Journal // nil for a reader
	unlock  func()
	// installation is this state directory's id (journal.InstallationID),
	// stamped on everything the session creates.
	installation string

	// images fetches the vendors' checksum files; one for the session's
	// life (Reload keeps it), so that the daemon's runs share its cache.
	images *image.Fetcher

	mu      sync.Mutex
	cluster reconcile.Cluster
	tools   Tools
	led     *ledger.Ledger // nil for a reader, and after a failed reopen
	ledErr  error          // why led is nil
}

// OpenReader connects to the cluster to plan; it locks nothing and
// writes nothing but the cache of the vendors' checksum files.
func OpenReader(s Settings) (*Session, error) {
	s, err := s.withDefaults().withMirrors()
	if err != nil {
		return nil, err
	}
	cl, err := s.connect()
	if err != nil {
		return nil, err
	}
	return &Session{set: s, cluster: cl, tools: s.tools(cl), images: s.fetcher()}, nil
}

// Open connects to the cluster, takes the state directory's lock (failing
// at once, naming the holder, when another templated has it) and opens
// the ledger for writing.
func Open(ctx context.Context, s Settings) (*Session, error) {
	sess, err := OpenReader(s)
	if err != nil {
		return nil, err
	}
	j, err := journal.OpenJournal(sess.set.StateDir)
	if err != nil {
		return nil, err
	}
	unlock, err := j.Lock()
	if err != nil {
		return nil, err
	}
	sess.journal, sess.unlock = j, unlock
	if sess.installation, err = journal.InstallationID(sess.set.StateDir); err != nil {
		unlock()
		return nil, err
	}
	led, err := OpenLedger(ctx, sess.set)
	if err != nil {
		unlock()
		return nil, err
	}
	sess.led = led
	return sess, nil
}

// OpenLedger opens the evidence ledger for writing with the settings' key;
// the connection's secret is refused in entries and redacted from
// evidence.
func OpenLedger(ctx context.Context, s Settings) (*ledger.Ledger, error) {
	s = s.withDefaults()
	keyFile := s.LedgerKey
	if keyFile == "" {
		keyFile = ledger.DefaultKeyPath(s.Getenv)
	}
	// The checkpoint this host verified last is kept in the state
	// directory, outside the evidence tree, so that cutting the ledger's
	// tail together with its checkpoints is caught at Open.
	opts := ledger.Options{Dir: s.EvidenceDir, KeyFile: keyFile, Logger: s.Log, StateDir: s.StateDir}
	if secret := s.Conn.TokenSecret.Reveal(); secret != "" {
		opts.Secrets = []string{secret}
	}
	led, err := ledger.Open(ctx, opts)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("open ledger: %w (create a signing key with `templated ledger init`)", err)
	case err != nil:
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	return led, nil
}

// Reload re-reads the connection and the image mirrors from s and
// reopens the ledger, keeping the state lock and the checksum files'
// fetcher (and so its interval). Settings that do not connect leave what
// was in force.
// The ledger is closed before it is reopened (it holds the writer lock);
// if reopening fails, Reconcile fails until a Reload succeeds, so nothing
// is built unrecorded.
func (sess *Session) Reload(ctx context.Context, s Settings) error {
	s, err := s.withDefaults().withMirrors()
	if err != nil {
		return fmt.Errorf("reload settings: %w", err)
	}
	s.StateDir = sess.set.StateDir
	cl, err := s.connect()
	if err != nil {
		return fmt.Errorf("reload connection settings: %w", err)
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.led != nil {
		sess.led.Close()
		sess.led = nil
	}
	sess.set, sess.cluster, sess.tools = s, cl, s.tools(cl)
	sess.led, sess.ledErr = OpenLedger(ctx, s)
	return sess.ledErr
}

// Close releases the ledger and the state lock.
func (sess *Session) Close() {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.led != nil {
		sess.led.Close()
		sess.led = nil
	}
	if sess.unlock != nil {
		sess.unlock()
		sess.unlock = nil
	}
}

// Ledger is the open ledger (nil for a reader or after a failed reload).
func (sess *Session) Ledger() *ledger.Ledger {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.led
}

// current is what one run uses, read once so that a reload in between
// does not mix two configurations.
func (sess *Session) current() (reconcile.Cluster, Tools, *ledger.Ledger, Settings) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.cluster, sess.tools, sess.led, sess.set
}

// Toolchain asks the Packer installation for its versions: Packer's (an
// error when it cannot be run), the Proxmox plugin's ("" when Packer
// cannot list its plugins: logged, and recorded as unknown), and every
// installed plugin's, for the evidence.
func Toolchain(ctx context.Context, tools Tools, log logrus.FieldLogger) (workspace.Toolchain, map[string]string, error) {
	pv, err := tools.Version(ctx)
	if err != nil {
		return workspace.Toolchain{}, nil, err
	}
	plugins, err := tools.Plugins(ctx)
	if err != nil || len(plugins) == 0 {
		log.WithError(err).Warn("could not list the installed Packer plugins; the evidence records their versions as unknown")
		plugins = map[string]string{workspace.PluginSource: "unknown"}
	}
	plugin := strings.TrimPrefix(plugins[workspace.PluginSource], "v")
	if plugin == "unknown" {
		plugin = ""
	}
	return workspace.Toolchain{Packer: pv, Plugin: plugin}, plugins, nil
}

// Inputs hashes every template's inputs: its desired entry, the Packer
// files it uses, and the toolchain (Packer, the plugin and its generation).
func Inputs(d *state.Desired, root string, tc workspace.Toolchain) (map[string]string, error) {
	out := map[string]string{}
	for _, t := range d.Templates {
		h, err := workspace.InputsHashWith(d, t, root, tc)
		if err != nil {
			return nil, fmt.Errorf("inputs of %s: %w", t.Name, err)
		}
		out[t.Name] = strings.TrimPrefix(h, "sha256:")
	}
	return out, nil
}

// Holds reads the holds from the state directory, without creating it.
func Holds(stateDir string) (map[string]state.Hold, error) {
	if _, err := os.Stat(stateDir); errors.Is(err, os.ErrNotExist) {
		return map[string]state.Hold{}, nil
	}
	j, err := journal.OpenJournal(stateDir)
	if err != nil {
		return nil, err
	}
	return j.Holds()
}

// Plan observes the cluster and plans d, touching nothing: with an
// unchanged cluster it makes one request.
func (sess *Session) Plan(ctx context.Context, d *state.Desired) (plan.Plan, error) {
	cluster, tools, _, set := sess.current()
	tc, _, err := Toolchain(ctx, tools, set.Log)
	if err != nil {
		return plan.Plan{}, err
	}
	inputs, err := Inputs(d, packerRoot(d, set), tc)
	if err != nil {
		return plan.Plan{}, err
	}
	p, _, err := observe(ctx, cluster, sess.images, d, inputs, tc.Plugin, set)
	return p, err
}

// observe reads the cluster and the holds, resolves the desired images
// (through images, while the cluster is read) and plans; plugin is the
// installed Proxmox plugin's version, which the planner compares with the
// one a template was built with. When the plan would build, what those
// builds need from the cluster is checked, and a build that cannot work
// is blocked instead (unmet): a plan over an unchanged fleet still makes
// one request to the cluster, and none to the vendors within the
// settings' ImageInterval. It returns what it observed with the plan.
func observe(ctx context.Context, cluster reconcile.Cluster, images *image.Fetcher, d *state.Desired, inputs map[string]string, plugin string, set Settings) (plan.Plan, state.Observed, error) {
	holds, err := Holds(set.StateDir)
	if err != nil {
		return plan.Plan{}, state.Observed{}, err
	}
	resolved := make(chan map[string]state.ResolvedImage, 1)
	go func() { resolved <- resolveImages(ctx, images, d, set.ImageMirrors) }()
	now := time.Now()
	obs, err := reconcile.Observe(ctx, cluster, d, inputs, holds, now)
	if err != nil {
		return plan.Plan{}, state.Observed{}, err
	}
	obs.Plugin, obs.Images = plugin, <-resolved
	p := reconcile.Plan(d, obs, now)
	if p.HasChanges() {
		if obs.Unmet = unmet(ctx, cluster, d, p, obs.Guests, packerRoot(d, set), set.Log); len(obs.Unmet) > 0 {
			p = reconcile.Plan(d, obs, now)
		}
	}
	return p, obs, nil
}
