package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// These tests use real directories and real inotify events. They assert
// which events arrive, never how fast: each wait is bounded only so that
// a missing event fails the test instead of hanging it.

type watchFixture struct {
	t       *testing.T
	root    string // holds desired/ and packer/
	desired string
	packer  string
	w       *DirWatcher
}

func newWatchFixture(t *testing.T) *watchFixture {
	t.Helper()
	root := t.TempDir()
	f := &watchFixture{t: t, root: root, desired: filepath.Join(root, "desired"), packer: filepath.Join(root, "packer")}
	mustMkdir(t, filepath.Join(f.packer, "linux", "ubuntu"))
	mustMkdir(t, f.desired)
	mustWrite(t, filepath.Join(f.desired, "templates.yaml"), "v1")
	mustWrite(t, filepath.Join(f.packer, "linux", "ubuntu", "build.pkr.hcl"), "v1")
	w, err := NewDirWatcher([]string{f.desired, f.packer}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	f.w = w
	return f
}

func mustMkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// expect reads changes until one for want arrives; it returns the paths
// seen before it.
func (f *watchFixture) expect(want string) []string {
	f.t.Helper()
	var before []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case p := <-f.w.Changes():
			if p == want {
				return before
			}
			before = append(before, p)
		case <-timeout:
			f.t.Fatalf("no change for %s; saw %v", want, before)
		}
	}
}

// eventually repeats write until a change for want arrives. After a
// directory appears, the watcher adds its watch a moment later; a write in
// between is reported as the directory's creation, not as itself.
func (f *watchFixture) eventually(want string, write func()) {
	f.t.Helper()
	for range 100 {
		write()
		timeout := time.After(100 * time.Millisecond)
	wait:
		for {
			select {
			case p := <-f.w.Changes():
				if p == want {
					return
				}
			case <-timeout:
				break wait
			}
		}
	}
	f.t.Fatalf("no change for %s after 100 writes", want)
}

// drain discards changes already delivered.
func (f *watchFixture) drain() {
	for {
		select {
		case <-f.w.Changes():
		default:
			return
		}
	}
}

func TestWatchInPlaceWrite(t *testing.T) {
	f := newWatchFixture(t)
	file := filepath.Join(f.desired, "templates.yaml")
	mustWrite(t, file, "v2")
	f.expect(file)
	hcl := filepath.Join(f.packer, "linux", "ubuntu", "build.pkr.hcl")
	mustWrite(t, hcl, "v2")
	f.expect(hcl)
}

func TestWatchRenameOver(t *testing.T) {
	f := newWatchFixture(t)
	file := filepath.Join(f.desired, "templates.yaml")
	tmp := filepath.Join(f.desired, ".templates.yaml.swp")
	mustWrite(t, tmp, "v2")
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	if before := f.expect(file); len(before) != 0 {
		t.Fatalf("hidden temp file reported: %v", before)
	}
	// The watch on the directory survives the rename.
	mustWrite(t, file, "v3")
	f.expect(file)
}

func TestWatchIgnoresHiddenAndBackups(t *testing.T) {
	f := newWatchFixture(t)
	mustMkdir(t, filepath.Join(f.desired, ".git", "objects"))
	mustWrite(t, filepath.Join(f.desired, ".git", "index"), "x")
	mustWrite(t, filepath.Join(f.desired, "templates.yaml~"), "x")
	mustWrite(t, filepath.Join(f.desired, "#templates.yaml#"), "x")
	mustWrite(t, filepath.Join(f.desired, "4913"), "x")
	if err := os.Chmod(filepath.Join(f.desired, "templates.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(f.packer, "linux", "ubuntu", "build.pkr.hcl")
	mustWrite(t, file, "v2")
	// Events arrive in order: anything reported before this write is an
	// event that should have been ignored.
	if before := f.expect(file); len(before) != 0 {
		t.Fatalf("ignored paths reported: %v", before)
	}
}

func TestWatchNewSubdirectory(t *testing.T) {
	f := newWatchFixture(t)
	sub := filepath.Join(f.packer, "windows")
	deep := filepath.Join(sub, "2022", "scripts")
	mustMkdir(t, deep)
	f.expect(sub)
	file := filepath.Join(deep, "setup.ps1")
	f.eventually(file, func() { mustWrite(t, file, "x") })
}

func TestWatchRootReplaced(t *testing.T) {
	f := newWatchFixture(t)
	file := filepath.Join(f.desired, "templates.yaml")
	// Replace desired/ by a rename: the old one moves away, a new one
	// moves in.
	staged := filepath.Join(f.root, "desired.new")
	mustMkdir(t, staged)
	mustWrite(t, filepath.Join(staged, "templates.yaml"), "v2")
	if err := os.Rename(f.desired, filepath.Join(f.root, "desired.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(staged, f.desired); err != nil {
		t.Fatal(err)
	}
	f.expect(f.desired)
	// The new directory is watched.
	f.eventually(file, func() { mustWrite(t, file, "v3") })
	// Writes to the old one are not reported as desired/ changes.
	f.drain()
	mustWrite(t, filepath.Join(f.root, "desired.old", "templates.yaml"), "old")
	mustWrite(t, file, "v4")
	if before := f.expect(file); len(before) != 0 {
		t.Fatalf("changes in the moved-away directory reported: %v", before)
	}
}

func TestWatchRootRemovedThenRecreated(t *testing.T) {
	f := newWatchFixture(t)
	if err := os.RemoveAll(f.desired); err != nil {
		t.Fatal(err)
	}
	f.expect(f.desired)
	mustMkdir(t, f.desired)
	file := filepath.Join(f.desired, "templates.yaml")
	mustWrite(t, file, "v2")
	// Either the parent's create event or the poll re-adds the watch; a
	// later write must be seen.
	f.expect(f.desired)
	f.eventually(file, func() { mustWrite(t, file, "v3") })
}

func TestWatchRootMissingAtStart(t *testing.T) {
	root := t.TempDir()
	desired := filepath.Join(root, "repo", "desired")
	w, err := NewDirWatcher([]string{desired}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f := &watchFixture{t: t, root: root, desired: desired, w: w}
	mustMkdir(t, desired) // parent did not exist either: found by polling
	f.expect(desired)
	file := filepath.Join(desired, "templates.yaml")
	f.eventually(file, func() { mustWrite(t, file, "v1") })
}

func TestWatchGitCheckout(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git not installed")
	}
	f := newWatchFixture(t)
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(git, append([]string{"-C", f.root, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+f.root)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	run("init", "-q", "-b", "main")
	run("add", "-A")
	run("commit", "-q", "-m", "one")
	file := filepath.Join(f.desired, "templates.yaml")
	mustWrite(t, file, "v2")
	run("commit", "-q", "-am", "two")
	f.drain()
	run("checkout", "-q", "HEAD~1")
	f.expect(file)
	f.drain()
	run("checkout", "-q", "main")
	f.expect(file)
}
