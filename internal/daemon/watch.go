package daemon

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/sirupsen/logrus"
)

// Watcher reports changes under the directories the daemon watches.
type Watcher interface {
	// Changes delivers the path of each relevant change. Deliveries may be
	// dropped while the consumer is slow (one pending change is enough to
	// trigger a run).
	Changes() <-chan string
	Close() error
}

// DirWatcher watches directory trees with fsnotify: every directory under
// each root, plus the root's parent so that a root that is removed and
// replaced (rm -rf and re-create, a rename over it) is noticed and watched
// again. Roots that are missing are polled for. Events on hidden files and
// directories (.git, editor swap files) and chmod-only events are ignored.
type DirWatcher struct {
	fsw     *fsnotify.Watcher
	roots   []string
	log     logrus.FieldLogger
	changes chan string
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once

	// watched is owned by the run goroutine (and by NewDirWatcher before
	// it starts).
	watched map[string]bool
}

var _ Watcher = (*DirWatcher)(nil)

const (
	pollMin = 100 * time.Millisecond
	pollMax = 5 * time.Second
)

// NewDirWatcher starts watching roots.
func NewDirWatcher(roots []string, log logrus.FieldLogger) (*DirWatcher, error) {
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &DirWatcher{
		fsw:     fsw,
		log:     log.WithField("component", "watch"),
		changes: make(chan string, 64),
		done:    make(chan struct{}),
		watched: map[string]bool{},
	}
	for _, r := range roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			fsw.Close()
			return nil, fmt.Errorf("watch %s: %w", r, err)
		}
		w.roots = append(w.roots, filepath.Clean(abs))
	}
	missing := w.sync()
	w.wg.Go(func() { w.run(missing) })
	return w, nil
}

// Changes implements Watcher.
func (w *DirWatcher) Changes() <-chan string { return w.changes }

// Close stops watching; the Changes channel is not closed.
func (w *DirWatcher) Close() error {
	var err error
	w.once.Do(func() {
		close(w.done)
		err = w.fsw.Close()
		w.wg.Wait()
	})
	return err
}

// sync adds watches for every root's parent and tree that exists; it
// reports whether some root is missing.
func (w *DirWatcher) sync() (missing bool) {
	for _, r := range w.roots {
		if parent := filepath.Dir(r); !w.watched[parent] && !w.underRoot(parent) {
			if err := w.fsw.Add(parent); err == nil {
				w.watched[parent] = true
			}
		}
		if fi, err := os.Stat(r); err != nil || !fi.IsDir() {
			missing = true
			continue
		}
		if !w.watched[r] {
			w.addTree(r)
		}
	}
	return missing
}

// addTree watches dir and every directory below it that is not hidden. A
// dir that is a symbolic link is watched itself (inotify follows it), but
// not below.
func (w *DirWatcher) addTree(dir string) {
	w.add(dir)
	filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error { //nolint:errcheck // errors are handled per entry
		switch {
		case err != nil || !de.IsDir() || p == dir:
			return nil
		case hidden(de.Name()):
			return filepath.SkipDir
		}
		w.add(p)
		return nil
	})
}

func (w *DirWatcher) add(dir string) {
	if w.watched[dir] {
		return
	}
	if err := w.fsw.Add(dir); err != nil {
		w.log.WithError(err).WithField("dir", dir).Warn("cannot watch directory")
		return
	}
	w.watched[dir] = true
}

// forget drops the watches of dir and everything below it.
func (w *DirWatcher) forget(dir string) {
	for p := range w.watched {
		if p == dir || strings.HasPrefix(p, dir+string(filepath.Separator)) {
			w.fsw.Remove(p) //nolint:errcheck // the kernel may have dropped it already
			delete(w.watched, p)
		}
	}
}

func (w *DirWatcher) run(missing bool) {
	poll := time.NewTimer(pollMin)
	if !missing {
		poll.Stop()
	}
	defer poll.Stop()
	delay := pollMin
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if w.handle(ev) {
				delay = pollMin
				poll.Reset(delay)
			}
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// An overflow loses events: assume a change and re-add watches.
			w.log.WithError(err).Warn("watch error; re-adding watches")
			w.emitRoot()
			poll.Reset(pollMin)
		case <-poll.C:
			had := w.rootsWatched()
			if w.sync() {
				delay = min(2*delay, pollMax)
				poll.Reset(delay)
			} else {
				delay = pollMin
			}
			if w.rootsWatched() > had {
				w.emitRoot()
			}
		}
	}
}

// handle processes one event; it reports whether a watched directory went
// away (the caller then polls for the roots).
func (w *DirWatcher) handle(ev fsnotify.Event) (gone bool) {
	name := filepath.Clean(ev.Name)
	if (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) && w.watched[name] {
		// A watched directory (a root, a parent, a subdirectory) went away:
		// drop its watches and those below it; polling re-adds the roots.
		w.forget(name)
		gone = true
	}
	root := w.rootOf(name)
	if root == "" || w.ignored(root, name) || ev.Op == fsnotify.Chmod {
		return gone
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(name); err == nil && fi.IsDir() {
			w.addTree(name)
		}
	}
	w.emit(name)
	return gone
}

func (w *DirWatcher) emit(p string) {
	select {
	case w.changes <- p:
	default:
	}
}

// emitRoot reports a change somewhere under the roots.
func (w *DirWatcher) emitRoot() {
	if len(w.roots) > 0 {
		w.emit(w.roots[0])
	}
}

// rootOf returns the root name lies in (or is), or "".
func (w *DirWatcher) rootOf(name string) string {
	for _, r := range w.roots {
		if name == r || strings.HasPrefix(name, r+string(filepath.Separator)) {
			return r
		}
	}
	return ""
}

func (w *DirWatcher) underRoot(p string) bool { return w.rootOf(p) != "" }

func (w *DirWatcher) rootsWatched() int {
	n := 0
	for _, r := range w.roots {
		if w.watched[r] {
			n++
		}
	}
	return n
}

// ignored reports whether a path below root is hidden somewhere on the way
// (.git, .swp files, emacs lock files) or an editor's backup.
func (w *DirWatcher) ignored(root, name string) bool {
	rel, err := filepath.Rel(root, name)
	if err != nil || rel == "." {
		return false
	}
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		if hidden(part) {
			return true
		}
	}
	base := filepath.Base(name)
	return strings.HasSuffix(base, "~") || base == "4913" || strings.HasPrefix(base, "#")
}

func hidden(name string) bool { return strings.HasPrefix(name, ".") }
