package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"templated/internal/atomicfile"

	"golang.org/x/mod/sumdb/tlog"
)

// VerifiedFileName is the host's record of the newest checkpoint Open has
// verified (the signed note itself), in Options.StateDir, or in the ledger
// directory when StateDir is empty. Open requires the ledger to extend it.
const VerifiedFileName = "ledger-verified-checkpoint"

// maxTailLine bounds how far back quickOpen reads to find the last line;
// a longer line sends Open down the full check.
const maxTailLine = 16 << 20

func (l *Ledger) verifiedPath() string {
	if l.opts.StateDir != "" {
		return filepath.Join(l.opts.StateDir, VerifiedFileName)
	}
	return l.path(VerifiedFileName)
}

// hostCheckpoint returns the checkpoint this host verified last, or nil.
func (l *Ledger) hostCheckpoint() ([]TrustedCheckpoint, error) {
	p := l.verifiedPath()
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read last verified checkpoint: %w", err)
	}
	return []TrustedCheckpoint{{Name: p + " (the last checkpoint this host verified)", Note: b}}, nil
}

// saveVerified records note as the newest checkpoint this host verified.
func (l *Ledger) saveVerified(note []byte) error {
	if note == nil {
		return nil
	}
	p := l.verifiedPath()
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, note) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("record verified checkpoint: %w", err)
	}
	if err := atomicfile.Write(p, note, atomicfile.Options{Perm: 0o644}); err != nil {
		return fmt.Errorf("record verified checkpoint: %w", err)
	}
	return nil
}

// quickOpen loads the writer state in time independent of the ledger's
// length, or reports false when anything is not as a clean shutdown leaves
// it; the full check (recover) then decides. It checks the published
// checkpoint's signature and its archived copy, that no newer archived
// checkpoint exists, the tree cache against the checkpoint's root, the last
// line's inclusion under that root, that nothing follows it, and a
// consistency proof from the checkpoint this host verified last.
func (l *Ledger) quickOpen(host []TrustedCheckpoint) bool {
	keys := []trustedKey{mustTrusted(l.key.vkey)}
	msg, err := os.ReadFile(l.path(checkpointName))
	if err != nil {
		return false
	}
	cp, err := openCheckpoint(msg, keys)
	if err != nil || cp.Size == 0 {
		return false
	}
	if arch, err := os.ReadFile(l.path(notesDirName, noteName(cp.Size))); err != nil || !bytes.Equal(arch, msg) {
		return false
	}
	if _, err := os.Lstat(l.path(notesDirName, noteName(cp.Size+1))); !errors.Is(err, os.ErrNotExist) {
		return false
	}
	tree, err := openTreeFile(l.path(treeName))
	if err != nil {
		return false
	}
	ok := false
	defer func() {
		if !ok {
			tree.Close()
		}
	}()
	if tree.records() != cp.Size {
		return false
	}
	if root, err := tree.root(cp.Size); err != nil || root != cp.Root {
		return false
	}
	last, lastOff, err := readLastLine(l.path(entriesName))
	if err != nil || !l.nothingToRepair(lastOff) {
		return false
	}
	seq, _, _, parsed := fastParse(last)
	leaf := tlog.RecordHash(last)
	if !parsed || seq != uint64(cp.Size-1) {
		return false
	}
	proof, err := tlog.ProveRecord(cp.Size, cp.Size-1, tree)
	if err != nil || tlog.CheckRecord(proof, cp.Size, cp.Root, cp.Size-1, leaf) != nil {
		return false
	}
	for _, h := range host {
		old, err := openCheckpoint(h.Note, keys)
		if err != nil || old.Size > cp.Size {
			return false
		}
		p, err := tlog.ProveTree(cp.Size, old.Size, tree)
		if err != nil || tlog.CheckTree(p, cp.Size, cp.Root, old.Size, old.Root) != nil {
			return false
		}
	}
	f, err := l.openEntries()
	if err != nil {
		return false
	}
	ok = true
	l.f, l.tree, l.n, l.last, l.lastNote = f, tree, cp.Size, leaf, msg
	return true
}

// nothingToRepair reports that no temporary file is left in the ledger
// directory or the quarantine, and that no quarantined file starts after
// the last line (lastOff): a repair that moved a torn tail aside but died
// before recording it leaves one there, and the full check records it.
func (l *Ledger) nothingToRepair(lastOff int64) bool {
	for _, d := range []string{l.path(), l.path(quarantineName)} {
		des, err := os.ReadDir(d)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return false
		}
		for _, de := range des {
			if atomicfile.IsTemp(de.Name()) {
				return false
			}
			if d == l.path(quarantineName) {
				off, err := strconv.ParseInt(strings.SplitN(de.Name(), "-", 2)[0], 10, 64)
				if err != nil || off > lastOff {
					return false
				}
			}
		}
	}
	return true
}

// readLastLine returns the last line of a file that must end with '\n',
// and its offset.
func readLastLine(path string) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	for chunk := int64(4096); ; chunk *= 4 {
		n := min(chunk, size, maxTailLine)
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, size-n); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
		if n == 0 || buf[n-1] != '\n' {
			return nil, 0, errors.New("no complete last line")
		}
		if i := bytes.LastIndexByte(buf[:n-1], '\n'); i >= 0 {
			return buf[i+1 : n-1], size - n + int64(i) + 1, nil
		}
		if n == size {
			return buf[:n-1], 0, nil
		}
		if n == maxTailLine {
			return nil, 0, errors.New("last line too long")
		}
	}
}
