// Package atomicfile owns how templated reads and writes its small files:
// a durable write that a crash leaves either wholly old or wholly new
// (temporary file, fsync, rename or link, fsync of the directory), the
// directory fsync itself, a flock'ed read-modify-write of a shared state
// file, and a bounded read that takes regular files only (never blocking
// on a FIFO). The ledger, the journal, the daemon, the workspace, the
// Proxmox settings and the simulator all go through it; it knows nothing
// of what the files hold.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// TempPrefix starts the name of every temporary file Write creates, so that
// a crash's leftovers can be recognised (IsTemp) and removed.
const TempPrefix = ".tmp-"

// ErrExists says an exclusive Write found the file there with other
// content.
var ErrExists = errors.New("exists with other content")

// IsTemp reports whether a file name is one of Write's temporary files.
func IsTemp(name string) bool { return strings.HasPrefix(name, TempPrefix) }

// Options tune Write.
type Options struct {
	// Perm is the file's mode (default 0o600).
	Perm os.FileMode
	// Exclusive makes the file write-once: it is linked into place and
	// must not exist already with other content (the same content is not
	// an error, so a retried write succeeds).
	Exclusive bool
	// Hook, when set, is called after each step with point+":tmp",
	// point+":renamed" and point+":dirsynced" (crash tests kill there).
	Hook  func(point string)
	Point string
}

// WriteFile writes data to path with mode perm so that a crash leaves either
// the old or the new content.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, data, Options{Perm: perm})
}

// Write writes data to path durably as opts say.
func Write(path string, data []byte, opts Options) error {
	if opts.Perm == 0 {
		opts.Perm = 0o600
	}
	hook := func(step string) {
		if opts.Hook != nil {
			opts.Hook(opts.Point + ":" + step)
		}
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempPrefix+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed; removes the link source otherwise
	if err := f.Chmod(opts.Perm); err != nil {
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
	hook("tmp")
	if opts.Exclusive {
		if err := os.Link(tmp, path); err != nil {
			if !errors.Is(err, os.ErrExist) {
				return fmt.Errorf("link %s: %w", path, err)
			}
			old, rerr := os.ReadFile(path)
			if rerr != nil || string(old) != string(data) {
				return fmt.Errorf("%s %w", path, ErrExists)
			}
		}
	} else if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	hook("renamed")
	if err := SyncDir(dir); err != nil {
		return err
	}
	hook("dirsynced")
	return nil
}

// SyncDir makes a directory's entries (creations, renames, links) durable.
func SyncDir(dir string) error {
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

// WithLock runs fn while holding an exclusive flock on lockPath (created
// if missing), waiting for other holders: the read-modify-write of a small
// state file shared by several processes.
func WithLock(lockPath string, fn func() error) error {
	lock, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("lock %s: %w", lockPath, err)
	}
	defer lock.Close() // closing releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lockPath, err)
	}
	return fn()
}
