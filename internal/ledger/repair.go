package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"
)

// Repair opens the ledger as its writer, which repairs crash damage: a torn
// or garbage last line is moved to ledger/quarantine/ (never dropped) and the
// file truncated to the last good line; a valid entry the crash left without
// a checkpoint is sealed; a checkpoint archived but not yet published is
// published; temporary files are removed. All of it is recorded in a
// ledger.repair entry. It returns what was repaired (nil if nothing), and a
// *TamperError, without touching anything, if the ledger's entries or
// checkpoints show tampering (it always runs Open's full check).
func Repair(ctx context.Context, opts Options) (*RepairRecord, error) {
	opts.Thorough = true
	l, err := Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	rep := l.Repaired()
	return rep, l.Close()
}

// repairFiles fixes the files analysis found crash-damaged and returns what
// it did, or nil if nothing needed fixing on disk.
func (l *Ledger) repairFiles(a *analysis) (*RepairRecord, error) {
	rep := &RepairRecord{}
	did := false
	seen := map[string]bool{}
	if a.quarantine >= 0 {
		q, err := l.quarantineTail(a.quarantine)
		if err != nil {
			return nil, err
		}
		rep.Quarantined = append(rep.Quarantined, q)
		seen[q.File] = true
		did = true
	}
	for _, f := range a.unrecorded {
		if seen[f] {
			continue
		}
		b, err := os.ReadFile(l.path(f))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		off, _ := strconv.ParseInt(strings.SplitN(filepath.Base(f), "-", 2)[0], 10, 64)
		sum := sha256.Sum256(b)
		rep.Quarantined = append(rep.Quarantined, Quarantine{File: f, Offset: off, Length: int64(len(b)), SHA256: hex.EncodeToString(sum[:])})
		did = true
	}
	if a.restore != nil {
		if err := writeFileAtomic(l.path(checkpointName), a.restore, false, "repair:checkpoint"); err != nil {
			return nil, err
		}
		cp, _ := parseCheckpointNote(a.restore)
		rep.Checkpoint = fmt.Sprintf("published the archived checkpoint of size %d", cp)
		did = true
	}
	for _, t := range a.tmpFiles {
		if err := os.Remove(l.path(t)); err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("remove %s: %w", t, err)
		}
		rep.RemovedTmp = append(rep.RemovedTmp, t)
		did = true
	}
	if !did {
		return nil, nil
	}
	return rep, nil
}

// quarantineTail copies entries.jsonl from off to its end into quarantine/
// (durably, first), then truncates entries.jsonl to off.
func (l *Ledger) quarantineTail(off int64) (Quarantine, error) {
	p := l.path(entriesName)
	raw, err := os.ReadFile(p)
	if err != nil {
		return Quarantine{}, fmt.Errorf("read entries: %w", err)
	}
	debris := raw[off:]
	sum := sha256.Sum256(debris)
	sumHex := hex.EncodeToString(sum[:])
	name := fmt.Sprintf("%012d-%s.bin", off, sumHex[:16])
	if err := writeFileAtomic(l.path(quarantineName, name), debris, true, "repair:quarantine"); err != nil {
		return Quarantine{}, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return Quarantine{}, fmt.Errorf("open entries: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(off); err != nil {
		return Quarantine{}, fmt.Errorf("truncate entries: %w", err)
	}
	if err := f.Sync(); err != nil {
		return Quarantine{}, fmt.Errorf("fsync entries: %w", err)
	}
	hook("repair:truncated")
	l.log.WithFields(logrus.Fields{"offset": off, "length": len(debris), "file": name}).Warn("moved a torn ledger tail to quarantine")
	return Quarantine{File: quarantineName + "/" + name, Offset: off, Length: int64(len(debris)), SHA256: sumHex}, nil
}

// parseCheckpointNote returns the size in a signed checkpoint without
// verifying it (the caller already did).
func parseCheckpointNote(msg []byte) (int64, error) {
	text, _, _ := strings.Cut(string(msg), "\n\n")
	cp, err := parseCheckpointText(text + "\n")
	return cp.Size, err
}
