package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"templated/internal/atomicfile"
)

// crashHook is called at each step of a write protocol; tests set it to kill
// the process there. It is nil in production.
var crashHook func(point string)

func hook(point string) {
	if crashHook != nil {
		crashHook(point)
	}
}

// writeFileAtomic writes a ledger file durably (mode 0644): renamed into
// place, or, when exclusive, linked (the file is write-once). point names
// the step for crash tests.
func writeFileAtomic(path string, data []byte, exclusive bool, point string) error {
	return atomicfile.Write(path, data, atomicfile.Options{Perm: 0o644, Exclusive: exclusive, Hook: hook, Point: point})
}

// ErrLocked is returned by Open when another process holds the ledger lock.
var ErrLocked = errors.New("ledger is locked by another writer")

// lockWriter takes the exclusive writer lock (ledger/LOCK) for the life of
// a Ledger; it fails at once with ErrLocked if another writer holds it.
func lockWriter(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

func flock(f *os.File, how int) error {
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		return fmt.Errorf("flock %s: %w", f.Name(), err)
	}
	return nil
}

// withEntriesLock runs fn holding a shared flock on entries.jsonl, which the
// writer holds exclusively from writing a line until its checkpoint is
// published. It waits until ctx is done. Without a readable entries file
// (none yet) fn runs unlocked.
func withEntriesLock(ctx context.Context, dir string, fn func() error) error {
	f, err := os.Open(filepath.Join(dir, ledgerDirName, entriesName))
	if err != nil {
		return fn()
	}
	defer f.Close()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fn() // e.g. a file system without flock: read anyway
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	defer flock(f, syscall.LOCK_UN)
	return fn()
}
