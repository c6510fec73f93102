package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"templated/internal/atomicfile"
)

// TrustedCheckpoint is a checkpoint kept off the host (by an auditor, a CI
// archive or git); the ledger must extend it.
type TrustedCheckpoint struct {
	Name string // for messages, e.g. the file it came from
	Note []byte
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Dir is the evidence root (DefaultDir when empty).
	Dir string
	// VerifierKeys are the trusted public keys (note verifier format). When
	// empty, the hint ledger/ledger.vkey is used and a warning says so.
	VerifierKeys []string
	// TrustedCheckpoints must each be consistent with the ledger.
	TrustedCheckpoints []TrustedCheckpoint
	// SkipEvidence skips evidence files and DSSE envelopes.
	SkipEvidence bool
	// Witnesses, when set, also checks witness cosignatures (and asks the
	// witnesses unless Offline): see WitnessCheck.
	Witnesses *WitnessCheck
}

// Verify checks a ledger offline: every line (strict JSON, seq, prev chain),
// the Merkle root against every checkpoint and trusted checkpoint, and,
// unless skipped, every evidence file's size and sha256, every DSSE
// signature and provenance subject. The error is for failures to verify at
// all (unreadable files, no key); problems found are in the Report.
func Verify(ctx context.Context, opts VerifyOptions) (*Report, error) {
	if opts.Dir == "" {
		opts.Dir = DefaultDir
	}
	vkeys := opts.VerifierKeys
	hinted := false
	if len(vkeys) == 0 {
		v, err := ReadVerifierKey(filepath.Join(opts.Dir, ledgerDirName, vkeyName))
		if err != nil {
			return nil, fmt.Errorf("no verifier key given and no usable hint: %w", err)
		}
		vkeys, hinted = []string{v}, true
	}
	keys, err := parseVerifierKeys(vkeys)
	if err != nil {
		return nil, err
	}
	// A shared lock on entries.jsonl waits for an append in progress to
	// finish its checkpoint (the writer holds it exclusively while
	// appending). An auditor's read-only copy may not allow it: then go on.
	var a *analysis
	err = withEntriesLock(ctx, opts.Dir, func() error {
		var err error
		a, err = analyze(opts.Dir, keys, opts.TrustedCheckpoints)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !opts.SkipEvidence {
		if err := a.checkEvidence(ctx, opts.Dir, keys); err != nil {
			return nil, err
		}
	}
	if opts.Witnesses != nil {
		if err := a.checkWitnesses(ctx, opts.Dir, *opts.Witnesses); err != nil {
			return nil, fmt.Errorf("check witnesses: %w", err)
		}
	}
	if hinted {
		a.report.add(SeverityWarning, vkeyName, "trusting the key found in the ledger directory (a hint anyone with write access can replace); pass the key you trust")
	}
	return a.report, nil
}

// analysis is a Report plus what Repair needs to fix crash damage.
type analysis struct {
	report  *Report
	scan    *scan
	current []byte // ledger/checkpoint, when valid

	unsealed   []uint64 // valid signed entries after the latest checkpoint
	quarantine int64    // offset where debris starts; -1 for none
	restore    []byte   // archived note to publish as ledger/checkpoint
	tmpFiles   []string
	unrecorded []string // quarantine files no ledger.repair entry lists
	strictDone bool     // every sealed line was decoded strictly and reported
}

// reportSealed reports the invalid lines among the first n (sealed) ones.
func (a *analysis) reportSealed(n int64) {
	bad := 0
	for i := int64(0); i < n; i++ {
		if a.scan.lines[i].err == nil {
			continue
		}
		ln := a.scan.full(i)
		if bad++; bad <= maxLineFindings {
			a.report.add(SeverityTamper, lineWhere(i), "%v", ln.err)
		}
	}
	if bad > maxLineFindings {
		a.report.add(SeverityTamper, entriesName, "%d more invalid sealed lines not listed", bad-maxLineFindings)
	}
}

var noteRE = regexp.MustCompile(`^[0-9]{12}\.note$`)

// maxLineFindings caps per-line findings; the rest are counted.
const maxLineFindings = 10

func analyze(dir string, keys []trustedKey, trusted []TrustedCheckpoint) (*analysis, error) {
	r := &Report{Dir: dir}
	a := &analysis{report: r, quarantine: -1}
	ld := filepath.Join(dir, ledgerDirName)
	raw, err := os.ReadFile(filepath.Join(ld, entriesName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read entries: %w", err)
	}
	sc, err := scanEntries(raw)
	if err != nil {
		return nil, err
	}
	a.scan = sc
	L := int64(len(sc.lines))
	r.Entries = L

	sealed, mismatch, err := a.checkCheckpoints(ld, keys)
	if err != nil {
		return nil, err
	}
	r.Sealed = sealed
	if mismatch {
		sc.fullAll() // a checkpoint disagrees: diagnose every line
		a.strictDone = true
	}
	a.reportSealed(min(sealed, L))
	if mismatch {
		a.pinpoint(min(sealed, L), keys)
	}
	a.classifyTail(sealed, keys)
	for _, tc := range trusted {
		a.checkTrusted(tc, keys)
	}
	if err := a.checkQuarantine(ld); err != nil {
		return nil, err
	}
	for _, t := range a.tmpFiles {
		r.add(SeverityWarning, t, "leftover temporary file from an interrupted write; repair removes it")
	}
	return a, nil
}

func lineWhere(i int64) string { return fmt.Sprintf("%s:%d (seq %d)", entriesName, i+1, i) }

// checkCheckpoints verifies ledger/checkpoints/*.note and ledger/checkpoint
// and returns the size of the latest valid one, and whether any root
// disagreed with the entries.
func (a *analysis) checkCheckpoints(ld string, keys []trustedKey) (sealed int64, mismatch bool, err error) {
	r := a.report
	des, err := os.ReadDir(filepath.Join(ld, notesDirName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, false, fmt.Errorf("read checkpoints: %w", err)
	}
	archived := map[int64][]byte{}
	var newest int64
	var rootErrs []string
	checkRoot := func(where string, cp Checkpoint) {
		L := int64(len(a.scan.lines))
		if cp.Size > L {
			rootErrs = append(rootErrs, where+"\x00"+fmt.Sprintf("covers %d entries but entries.jsonl has %d complete lines: sealed entries were deleted or truncated", cp.Size, L))
			return
		}
		if root, err := a.scan.store.root(cp.Size); err != nil || root != cp.Root {
			mismatch = true
			rootErrs = append(rootErrs, where+"\x00"+fmt.Sprintf("Merkle root does not match entries 0..%d: sealed history was changed", cp.Size-1))
		}
	}
	for _, de := range des {
		name := de.Name()
		where := notesDirName + "/" + name
		switch {
		case atomicfile.IsTemp(name):
			a.tmpFiles = append(a.tmpFiles, where)
			continue
		case !noteRE.MatchString(name):
			r.add(SeverityWarning, where, "unexpected file in the checkpoint archive")
			continue
		}
		r.Checkpoints++
		msg, err := os.ReadFile(filepath.Join(ld, notesDirName, name))
		if err != nil {
			return 0, false, fmt.Errorf("read checkpoint: %w", err)
		}
		cp, err := openCheckpoint(msg, keys)
		if err != nil {
			r.add(SeverityTamper, where, "%v", err)
			continue
		}
		if size, _ := strconv.ParseInt(name[:12], 10, 64); size != cp.Size {
			r.add(SeverityTamper, where, "file name says size %d but the signed body says %d", size, cp.Size)
			continue
		}
		r.Origin = cp.Origin
		archived[cp.Size] = msg
		newest = max(newest, cp.Size)
		checkRoot(where, cp)
	}
	current := int64(-1)
	msg, err := os.ReadFile(filepath.Join(ld, checkpointName))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return 0, false, fmt.Errorf("read checkpoint: %w", err)
	default:
		r.Checkpoints++
		cp, err := openCheckpoint(msg, keys)
		if err != nil {
			r.add(SeverityTamper, checkpointName, "%v", err)
			break
		}
		r.Origin = cp.Origin
		current = cp.Size
		a.current = msg
		if arch, ok := archived[cp.Size]; !ok {
			r.add(SeverityTamper, checkpointName, "size %d has no archived copy %s/%s: archived checkpoints were deleted", cp.Size, notesDirName, noteName(cp.Size))
			checkRoot(checkpointName, cp)
		} else if !bytes.Equal(arch, msg) {
			r.add(SeverityTamper, checkpointName, "differs from its archived copy %s/%s", notesDirName, noteName(cp.Size))
		}
	}
	a.reportRootErrs(rootErrs)
	switch {
	case current >= newest, newest == 0:
	case current == newest-1 || (current < 0 && newest == 1 && msg == nil):
		r.add(SeverityCrash, checkpointName, "is at size %d but %s/%s exists: a crash between archiving and publishing the checkpoint; repair publishes it", max(current, 0), notesDirName, noteName(newest))
		a.restore = archived[newest]
	case msg == nil:
		r.add(SeverityTamper, checkpointName, "is missing but %s/%s exists: the checkpoint was deleted", notesDirName, noteName(newest))
	default:
		r.add(SeverityTamper, checkpointName, "was rolled back: it is at size %d but %s/%s exists", current, notesDirName, noteName(newest))
	}
	return max(current, newest), mismatch, nil
}

// reportRootErrs reports the first few checkpoint root problems and counts
// the rest (a truncation makes every later checkpoint disagree).
func (a *analysis) reportRootErrs(errs []string) {
	for i, e := range errs {
		if i == 3 {
			a.report.add(SeverityTamper, notesDirName, "%d more checkpoints disagree with the entries", len(errs)-3)
			return
		}
		where, msg, _ := bytes.Cut([]byte(e), []byte{0})
		a.report.add(SeverityTamper, string(where), "%s", msg)
	}
}

// pinpoint finds sealed lines whose own signature fails, after a checkpoint
// root disagreed: it names the line that was edited.
func (a *analysis) pinpoint(n int64, keys []trustedKey) {
	pubs := pubKeys(keys)
	for i := int64(0); i < n; i++ {
		ln := a.scan.lines[i]
		if ln.err != nil {
			continue
		}
		d, err := decodeLine(ln.raw)
		if err == nil {
			err = d.checkSig(pubs)
		}
		if err != nil {
			a.report.add(SeverityTamper, lineWhere(i), "%v: the line was changed after it was written", err)
		}
	}
}

// classifyTail looks at what follows the latest checkpoint. A crash can
// leave one valid signed entry not yet sealed (or two when a repair was
// interrupted), and one torn or garbage last line; anything else is
// tampering.
func (a *analysis) classifyTail(sealed int64, keys []trustedKey) {
	r, sc := a.report, a.scan
	L := int64(len(sc.lines))
	pubs := pubKeys(keys)
	i := min(sealed, L)
	for j := i; j < L; j++ {
		sc.full(j)
	}
	var valid []uint64
	for ; i < L; i++ {
		ln := sc.lines[i]
		if ln.err != nil {
			break
		}
		d, _ := decodeLine(ln.raw)
		if err := d.checkSig(pubs); err != nil {
			r.add(SeverityTamper, lineWhere(i), "%v: a forged entry was appended after checkpoint %d", err, sealed)
			i++
			break
		}
		valid = append(valid, uint64(i))
	}
	switch {
	case len(valid) == 0:
	case len(valid) == 1, len(valid) == 2 && repairSeals(sc.lines[valid[1]].entry, valid[0]):
		for _, s := range valid {
			r.add(SeverityCrash, lineWhere(int64(s)), "not yet sealed by a checkpoint (a crash before checkpointing); repair seals it and records that")
		}
		a.unsealed = valid
	default:
		r.add(SeverityTamper, lineWhere(int64(valid[0])), "%d entries follow the latest checkpoint (size %d) but a crash leaves at most one: the checkpoint was rolled back, or entries were appended without checkpointing", len(valid), sealed)
	}
	for j := i; j < L; j++ {
		ln := sc.lines[j]
		switch {
		case ln.err == nil:
			r.add(SeverityTamper, lineWhere(j), "follows an invalid entry after checkpoint %d", sealed)
		case ln.garbage && j == L-1:
			r.add(SeverityCrash, lineWhere(j), "%v: debris from a torn write; repair moves it to %s/", ln.err, quarantineName)
			a.quarantine = ln.off
		default:
			r.add(SeverityTamper, lineWhere(j), "%v (after checkpoint %d)", ln.err, sealed)
		}
	}
	if len(sc.tail) > 0 {
		r.add(SeverityCrash, entriesName, "torn last line: %d bytes at offset %d without a newline; repair moves them to %s/", len(sc.tail), sc.tailOff, quarantineName)
		if a.quarantine < 0 {
			a.quarantine = sc.tailOff
		}
	}
}

// repairSeals reports whether e is a ledger.repair entry sealing seq.
func repairSeals(e Entry, seq uint64) bool {
	return e.Kind == KindLedgerRepair && e.Repair != nil && slices.Contains(e.Repair.Sealed, seq)
}

// checkTrusted checks that the ledger extends a checkpoint kept elsewhere.
func (a *analysis) checkTrusted(tc TrustedCheckpoint, keys []trustedKey) {
	r := a.report
	where := "trusted checkpoint " + tc.Name
	cp, err := openCheckpoint(tc.Note, keys)
	if err != nil {
		r.add(SeverityTamper, where, "%v", err)
		return
	}
	r.Trusted++
	L := int64(len(a.scan.lines))
	if cp.Size > L {
		r.add(SeverityTamper, where, "covers %d entries but the ledger has %d: history was truncated or rolled back", cp.Size, L)
		return
	}
	if root, err := a.scan.store.root(cp.Size); err != nil || root != cp.Root {
		r.add(SeverityTamper, where, "root differs from the ledger's first %d entries: history was rewritten since this checkpoint", cp.Size)
	}
}

// checkQuarantine lists quarantined files that no ledger.repair entry
// records (a crash after quarantining, before recording).
func (a *analysis) checkQuarantine(ld string) error {
	top, err := os.ReadDir(ld)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read ledger directory: %w", err)
	}
	for _, de := range top {
		if atomicfile.IsTemp(de.Name()) {
			a.tmpFiles = append(a.tmpFiles, de.Name())
		}
	}
	des, err := os.ReadDir(filepath.Join(ld, quarantineName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read quarantine: %w", err)
	}
	recorded := map[string]bool{}
	for i, ln := range a.scan.lines {
		if ln.kind != KindLedgerRepair {
			continue
		}
		if ln := a.scan.full(int64(i)); ln.err == nil && ln.entry.Repair != nil {
			for _, q := range ln.entry.Repair.Quarantined {
				recorded[q.File] = true
			}
		}
	}
	for _, de := range des {
		where := quarantineName + "/" + de.Name()
		switch {
		case atomicfile.IsTemp(de.Name()):
			a.tmpFiles = append(a.tmpFiles, where)
		case !recorded[where]:
			a.report.add(SeverityCrash, where, "not recorded by a ledger.repair entry; repair records it")
			a.unrecorded = append(a.unrecorded, where)
		}
	}
	return nil
}
