package ledger

import (
	"errors"
	"fmt"
	"io"
	"os"

	"templated/internal/atomicfile"

	"golang.org/x/mod/sumdb/tlog"
)

// treeName is the writer's cache of the Merkle tree: every stored hash
// (tlog.StoredHashIndex order), 32 bytes each. It is not evidence: Open
// trusts it only through proofs against signed checkpoints, and rebuilds it
// from entries.jsonl when it disagrees with them.
const treeName = "tree.hashes"

// treeFile is a tlog.HashReader over ledger/tree.hashes. Reads are pread
// calls, so the writer keeps O(log n) hashes' worth of work per append and
// Open never loads the whole tree.
type treeFile struct {
	f     *os.File
	count int64 // stored hashes in the file
}

// openTreeFile opens (creating) the cache file; a partial last hash (a torn
// write) is ignored.
func openTreeFile(path string) (*treeFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open tree cache: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat tree cache: %w", err)
	}
	return &treeFile{f: f, count: fi.Size() / tlog.HashSize}, nil
}

// records is the number of records whose hashes are all stored, or -1 when
// the count matches no record boundary.
func (t *treeFile) records() int64 {
	lo, hi := int64(0), t.count+1
	for lo < hi { // smallest n with StoredHashCount(n) >= count
		mid := (lo + hi) / 2
		if tlog.StoredHashCount(mid) < t.count {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if tlog.StoredHashCount(lo) != t.count {
		return -1
	}
	return lo
}

func (t *treeFile) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= t.count {
			return nil, fmt.Errorf("hash %d not in the tree cache", x)
		}
		if _, err := t.f.ReadAt(out[i][:], x*tlog.HashSize); err != nil {
			return nil, fmt.Errorf("read tree cache: %w", err)
		}
	}
	return out, nil
}

// add stores the hashes for record n, which must be the next one. The
// write is not fsynced: after a crash Open finds the cache behind or torn
// and rebuilds it.
func (t *treeFile) add(n int64, leaf tlog.Hash) error {
	hs, err := tlog.StoredHashesForRecordHash(n, leaf, t)
	if err != nil {
		return fmt.Errorf("store hashes of record %d: %w", n, err)
	}
	buf := make([]byte, 0, len(hs)*tlog.HashSize)
	for _, h := range hs {
		buf = append(buf, h[:]...)
	}
	if _, err := t.f.WriteAt(buf, t.count*tlog.HashSize); err != nil {
		return fmt.Errorf("write tree cache: %w", err)
	}
	t.count += int64(len(hs))
	return nil
}

// root returns the tree hash of the first n records.
func (t *treeFile) root(n int64) (tlog.Hash, error) {
	return tlog.TreeHash(n, t)
}

// rebuildTreeFile replaces the cache at path with hs (all stored hashes,
// from a full scan) unless it already holds exactly them.
func rebuildTreeFile(path string, hs []tlog.Hash) (*treeFile, error) {
	want := make([]byte, 0, len(hs)*tlog.HashSize)
	for _, h := range hs {
		want = append(want, h[:]...)
	}
	if !sameFile(path, want) {
		if err := atomicfile.Write(path, want, atomicfile.Options{Perm: 0o644}); err != nil {
			return nil, fmt.Errorf("rebuild tree cache: %w", err)
		}
	}
	return openTreeFile(path)
}

func sameFile(path string, want []byte) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() != int64(len(want)) {
		return false
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(f, got); err != nil {
		return false
	}
	return string(got) == string(want)
}

func (t *treeFile) Close() error {
	if t == nil || t.f == nil {
		return nil
	}
	err := t.f.Close()
	t.f = nil
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("close tree cache: %w", err)
	}
	return nil
}
