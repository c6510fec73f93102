package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// tmpPrefix marks temporary files; Repair removes leftovers.
const tmpPrefix = ".tmp-"

// crashHook is called at each step of a write protocol; tests set it to kill
// the process there. It is nil in production.
var crashHook func(point string)

func hook(point string) {
	if crashHook != nil {
		crashHook(point)
	}
}

// writeFileAtomic writes data to path durably: a temporary file in the same
// directory, fsync, then rename (or link, when exclusive: the file is
// write-once and must not exist with other content), then fsync of the
// directory. point names the step for crash tests.
func writeFileAtomic(path string, data []byte, exclusive bool, point string) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed or linked and removed
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	hook(point + ":tmp")
	if exclusive {
		if err := os.Link(tmp, path); err != nil {
			if !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("link %s: %w", path, err)
			}
			old, rerr := os.ReadFile(path)
			if rerr != nil || string(old) != string(data) {
				return fmt.Errorf("%s exists with other content", path)
			}
		}
	} else if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	hook(point + ":renamed")
	if err := syncDir(dir); err != nil {
		return err
	}
	hook(point + ":dirsynced")
	return nil
}

// syncDir makes the directory's entries (renames, links) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// isTmp reports whether a file name is a leftover temporary file.
func isTmp(name string) bool { return strings.HasPrefix(name, tmpPrefix) }

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
