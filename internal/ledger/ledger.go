package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"templated/internal/atomicfile"
	"templated/internal/redact"

	"github.com/sirupsen/logrus"
	"golang.org/x/mod/sumdb/tlog"
)

// DefaultDir is the evidence root, relative to templated's working directory.
const DefaultDir = "output/artifacts/infra/packer"

const (
	ledgerDirName  = "ledger"
	entriesName    = "entries.jsonl"
	checkpointName = "checkpoint"
	notesDirName   = "checkpoints"
	quarantineName = "quarantine"
	lockName       = "LOCK"
	vkeyName       = "ledger.vkey"
)

// Options configure Open.
type Options struct {
	// Dir is the evidence root (DefaultDir when empty).
	Dir string
	// KeyFile is the private signing key (DefaultKeyPath(os.Getenv) when
	// empty). It must not be inside Dir.
	KeyFile string
	// Logger gets what Open repaired; nil discards.
	Logger logrus.FieldLogger
	// Clock stamps entries; nil is time.Now.
	Clock func() time.Time
	// Secrets are values that must never be written: Append refuses an entry
	// that contains one, Finish redacts them from evidence files.
	Secrets []string
	// BuilderID is the SLSA builder.id in provenance; default
	// "urn:templated:builder:<hostname>".
	BuilderID string
	// StateDir keeps VerifiedFileName, the newest checkpoint this host
	// verified, which Open requires the ledger to extend. Empty keeps it
	// in the ledger directory, where wiping the ledger wipes it too: the
	// daemon passes its own state directory.
	StateDir string
	// Thorough makes Open run the full check of every line and checkpoint
	// even when the quick one would do (Repair sets it).
	Thorough bool
	// Witnesses tune how checkpoints are sent to the configured witnesses
	// (see WitnessOptions).
	Witnesses WitnessOptions
}

// Ledger is the single writer of one evidence root. Its methods are safe for
// concurrent use by the goroutines of one process.
type Ledger struct {
	opts   Options
	log    logrus.FieldLogger
	dir    string // evidence root
	key    *signingKey
	lockF  *os.File
	repair *RepairRecord // what Open repaired, nil if nothing

	mu       sync.Mutex
	f        *os.File // entries.jsonl, O_APPEND
	n        int64    // entries written
	last     tlog.Hash
	tree     *treeFile
	lastNote []byte
	poisoned error
	sync     func(*os.File) error // fsync; tests inject failures
	witness  *witnessSender       // nil without witnesses

	// secrets are Options.Secrets in every form they travel in: refused
	// in entries, replaced in evidence.
	secrets redact.Secrets
}

// ErrPoisoned is wrapped by every Append after a write or fsync failed: the
// writer stops rather than retry (after a failed fsync the kernel may have
// dropped the data, so a retry could falsely succeed).
var ErrPoisoned = errors.New("ledger writer stopped after a failed write")

// TamperError is returned by Open when the ledger shows tampering: the writer
// fails closed and never repairs it.
type TamperError struct{ Report *Report }

func (e *TamperError) Error() string {
	return "ledger shows tampering: " + e.Report.first(SeverityTamper)
}

func (o *Options) defaults() {
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	if o.KeyFile == "" {
		o.KeyFile = DefaultKeyPath(os.Getenv)
	}
	if o.Logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Logger = l
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.BuilderID == "" {
		host, _ := os.Hostname()
		o.BuilderID = "urn:templated:builder:" + host
	}
}

// ErrKeyInsideTree is returned when the signing key would live in the
// evidence tree, where anyone who can read the evidence could take it.
var ErrKeyInsideTree = errors.New("the signing key must be outside the evidence tree")

// keyOutsideDir refuses a key file inside the evidence tree.
func keyOutsideDir(dir, key string) error {
	ad, err1 := filepath.Abs(dir)
	ak, err2 := filepath.Abs(key)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("resolve paths: %w", err)
	}
	if rel, err := filepath.Rel(ad, ak); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return fmt.Errorf("key %s, evidence tree %s: %w", key, dir, ErrKeyInsideTree)
	}
	return nil
}

// CreateKey is `templated ledger init`: it creates the private key at
// keyPath (outside dir, mode 0600, never overwriting), prepares dir and
// returns the verifier key.
func CreateKey(dir, keyPath, name string) (string, error) {
	if err := keyOutsideDir(dir, keyPath); err != nil {
		return "", err
	}
	vkey, err := GenerateKey(keyPath, name)
	if err != nil {
		return "", err
	}
	return vkey, Init(dir, vkey)
}

// Init prepares an evidence root for a key: the directories and the public
// verifier key hint. It does not create the key (see GenerateKey).
func Init(dir, vkey string) error {
	if _, err := parseVerifierKey(vkey); err != nil {
		return err
	}
	ld := filepath.Join(dir, ledgerDirName)
	for _, d := range []string{ld, filepath.Join(ld, notesDirName), filepath.Join(ld, quarantineName)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	p := filepath.Join(ld, vkeyName)
	if old, err := os.ReadFile(p); err == nil {
		if strings.TrimSpace(string(old)) != vkey {
			return fmt.Errorf("%s holds another key (%s): refusing to replace it", p, strings.TrimSpace(string(old)))
		}
		return nil
	}
	if err := writeFileAtomic(p, []byte(vkey+"\n"), true, "init:vkey"); err != nil {
		return err
	}
	return atomicfile.SyncDir(dir)
}

// Open takes the writer lock, checks the ledger and repairs crash damage
// (recording a ledger.repair entry). It fails with *TamperError if the ledger
// shows tampering, and with ErrLocked if another writer holds it.
//
// A ledger a clean shutdown left is opened in time independent of its
// length (see quickOpen): the newest checkpoint, the last entry and a
// consistency proof from the checkpoint this host verified last. Anything
// else (crash damage, tampering, a stale tree cache) gets the full check of
// entries and checkpoints. Verify checks the whole history.
func Open(ctx context.Context, opts Options) (*Ledger, error) {
	opts.defaults()
	if err := keyOutsideDir(opts.Dir, opts.KeyFile); err != nil {
		return nil, err
	}

	key, err := loadKey(opts.KeyFile)
	if err != nil {
		return nil, err
	}
	if err := Init(opts.Dir, key.vkey); err != nil {
		return nil, fmt.Errorf("init ledger: %w", err)
	}
	l := &Ledger{opts: opts, dir: opts.Dir, key: key, sync: (*os.File).Sync,
		log: opts.Logger.WithField("component", "ledger")}
	for _, s := range opts.Secrets {
		if err := l.secrets.Add("", s); err != nil {
			return nil, fmt.Errorf("open ledger: %w", err)
		}
	}
	l.lockF, err = lockWriter(l.path(lockName))
	if err != nil {
		return nil, err
	}
	if err := l.open(ctx); err != nil {
		if l.f != nil {
			l.f.Close()
		}
		l.tree.Close()
		l.lockF.Close()
		return nil, err
	}
	l.startWitnesses()
	return l, nil
}

func (l *Ledger) open(ctx context.Context) error {
	host, err := l.hostCheckpoint()
	if err != nil {
		return err
	}
	if l.opts.Thorough || !l.quickOpen(host) {
		if err := l.recover(ctx, host); err != nil {
			return err
		}
	}
	return l.saveVerified(l.lastNote)
}

func (l *Ledger) path(elem ...string) string {
	return filepath.Join(append([]string{l.dir, ledgerDirName}, elem...)...)
}

// recover analyses the ledger, repairs crash damage and loads the writer
// state. It runs with the lock held.
func (l *Ledger) recover(ctx context.Context, host []TrustedCheckpoint) error {
	keys := []trustedKey{mustTrusted(l.key.vkey)}
	a, err := analyze(l.dir, keys, host)
	if err != nil {
		return err
	}
	if a.report.Status() == StatusTampered {
		return &TamperError{Report: a.report}
	}
	rep, err := l.repairFiles(a)
	if err != nil {
		return fmt.Errorf("repair ledger: %w", err)
	}
	if rep != nil { // files changed: look again
		if a, err = analyze(l.dir, keys, host); err != nil {
			return err
		}
		if st := a.report.Status(); st == StatusTampered {
			return &TamperError{Report: a.report}
		}
	}
	if err := l.load(a); err != nil {
		return err
	}
	if n := len(a.unsealed); n == 2 && a.scan.lines[a.unsealed[1]].kind == KindLedgerRepair {
		// An entry and the repair sealing it were written, but the
		// repair's checkpoint was not (a crash, a full disk): the
		// checkpoint finishes that repair. Another repair entry would make
		// three unsealed lines, which verify rightly calls tampering, so
		// retries would brick the ledger.
		if err := l.checkpoint(); err != nil {
			return fmt.Errorf("seal earlier repair: %w", err)
		}
		l.log.WithField("sealed", a.unsealed).Warn("ledger: sealed an earlier repair whose checkpoint was missing")
		a.unsealed = nil
	}
	if len(a.unsealed) > 0 || rep != nil {
		if rep == nil {
			rep = &RepairRecord{}
		}
		rep.Sealed = a.unsealed
		e := Entry{Kind: KindLedgerRepair, Repair: rep}
		if _, err := l.Append(ctx, e); err != nil {
			return fmt.Errorf("record repair: %w", err)
		}
		l.repair = rep
		l.log.WithFields(logrus.Fields{"sealed": rep.Sealed, "quarantined": len(rep.Quarantined),
			"checkpoint": rep.Checkpoint}).Warn("ledger repaired after a crash")
	}
	return nil
}

// load sets the writer state from a clean (or only unsealed) analysis.
func (l *Ledger) load(a *analysis) error {
	f, err := l.openEntries()
	if err != nil {
		return err
	}
	l.f = f
	if l.tree, err = rebuildTreeFile(l.path(treeName), a.scan.store.h); err != nil {
		return err
	}
	l.n = int64(len(a.scan.lines))
	if l.n > 0 {
		l.last = a.scan.lines[l.n-1].leaf
	}
	l.lastNote = a.current
	return nil
}

// openEntries opens entries.jsonl for appending, creating it durably.
func (l *Ledger) openEntries() (*os.File, error) {
	f, err := os.OpenFile(l.path(entriesName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open entries: %w", err)
	}
	// A newly created entries file must survive a crash before the first
	// checkpoint names it: make its directory entry durable now.
	if err := atomicfile.SyncDir(l.path()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Append writes e as the next entry and signs a checkpoint covering it. It
// fills V, Seq, TS, Prev and Sig. When Append returns nil the entry is
// durable and sealed. After a write, fsync or checkpoint failure the writer
// is stopped: this and all later calls fail with ErrPoisoned.
func (l *Ledger) Append(ctx context.Context, e Entry) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, errors.New("ledger is closed")
	}
	if l.poisoned != nil {
		return 0, fmt.Errorf("%w: %w", ErrPoisoned, l.poisoned)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	e.V, e.Seq, e.Prev = 1, uint64(l.n), hex.EncodeToString(l.last[:])
	e.TS = l.opts.Clock().UTC().Format(time.RFC3339Nano)
	if err := e.validate(); err != nil {
		return 0, fmt.Errorf("append %s: %w", e.Kind, err)
	}
	line, err := encodeLine(e, l.key.priv)
	if err != nil {
		return 0, err
	}
	if err := l.checkSecrets(line); err != nil {
		return 0, fmt.Errorf("append %s: %w", e.Kind, err)
	}
	if err := flock(l.f, syscall.LOCK_EX); err != nil {
		return 0, err
	}
	defer flock(l.f, syscall.LOCK_UN)
	hook("append:begin")
	if err := l.writeLine(line); err != nil {
		l.poisoned = err
		return 0, fmt.Errorf("%w: %w", ErrPoisoned, err)
	}
	leaf := tlog.RecordHash(line)
	if err := l.tree.add(l.n, leaf); err != nil {
		l.poisoned = err
		return 0, err
	}
	l.n++
	l.last = leaf
	if err := l.checkpoint(); err != nil {
		l.poisoned = err
		return 0, fmt.Errorf("%w: %w", ErrPoisoned, err)
	}
	hook("append:done")
	return e.Seq, nil
}

// writeLine appends line and '\n' with a single write, then fsyncs.
func (l *Ledger) writeLine(line []byte) error {
	buf := make([]byte, 0, len(line)+1)
	buf = append(append(buf, line...), '\n')
	n, err := l.f.Write(buf)
	if err == nil && n != len(buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("write entry: %w", err)
	}
	hook("append:written")
	if err := l.sync(l.f); err != nil {
		return fmt.Errorf("fsync entries: %w", err)
	}
	hook("append:synced")
	return nil
}

// checkpoint signs the tree of all l.n entries, archives the note
// (write-once) and then publishes it as ledger/checkpoint.
func (l *Ledger) checkpoint() error {
	root, err := l.tree.root(l.n)
	if err != nil {
		return fmt.Errorf("tree hash: %w", err)
	}
	msg, err := signCheckpoint(Checkpoint{Origin: l.key.signer.Name(), Size: l.n, Root: root}, l.key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(l.path(notesDirName, noteName(l.n)), msg, true, "checkpoint:archive"); err != nil {
		return err
	}
	if err := writeFileAtomic(l.path(checkpointName), msg, false, "checkpoint:current"); err != nil {
		return err
	}
	l.lastNote = msg
	l.notifyWitnesses(msg, l.n)
	return nil
}

func noteName(n int64) string { return fmt.Sprintf("%012d.note", n) }

func (l *Ledger) checkSecrets(b []byte) error {
	if l.secrets.Contains(b) {
		return errors.New("entry contains a secret value: refusing to write it")
	}
	return nil
}

// Checkpoint returns the latest signed checkpoint (nil before the first
// entry): publish it off the host (CI console, archived artifact, git).
func (l *Ledger) Checkpoint() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.lastNote)
}

// VerifierKey returns the public key that verifies this ledger.
func (l *Ledger) VerifierKey() string { return l.key.vkey }

// Repaired returns what Open repaired, or nil.
func (l *Ledger) Repaired() *RepairRecord { return l.repair }

// Len returns the number of entries.
func (l *Ledger) Len() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Close releases the entries file and the writer lock.
// Before closing it sends the newest checkpoint to witnesses that lack it,
// for at most WitnessOptions.CloseWait, and records the newest checkpoint
// as verified by this host.
func (l *Ledger) Close() error {
	l.stopWitnesses()
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	if l.f != nil {
		if l.poisoned == nil {
			errs = append(errs, l.saveVerified(l.lastNote))
		}
		errs = append(errs, l.f.Close())
		l.f = nil
	}
	errs = append(errs, l.tree.Close())
	if l.lockF != nil {
		errs = append(errs, l.lockF.Close())
		l.lockF = nil
	}
	return errors.Join(errs...)
}

func mustTrusted(vkey string) trustedKey {
	k, err := parseVerifierKey(vkey)
	if err != nil {
		panic(err) // derived from a parsed private key
	}
	return k
}
