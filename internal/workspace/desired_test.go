package workspace

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"templated/internal/state"
)

const defaultDesired = "../../desired/templates.yaml"

// TestLoadDesiredDefault loads the repository's desired file against the
// real packer/ workspace next to it.
func TestLoadDesiredDefault(t *testing.T) {
	root := DefaultRoot(defaultDesired)
	if root != filepath.Join("..", "..", "packer") {
		t.Errorf("DefaultRoot = %q", root)
	}
	d, err := LoadDesired(defaultDesired)
	if err != nil {
		t.Fatalf("the default desired file does not match the real packer workspace:\n%v", err)
	}
	if d.PackerRoot != root || d.Path != defaultDesired || len(d.Templates) == 0 {
		t.Errorf("PackerRoot %q, Path %q, %d templates", d.PackerRoot, d.Path, len(d.Templates))
	}
}

func TestLoadDesiredErrors(t *testing.T) {
	_, err := LoadDesired(filepath.Join(t.TempDir(), "missing.yaml"))
	var verr *state.ValidationError
	if !errors.Is(err, fs.ErrNotExist) || errors.As(err, &verr) {
		t.Errorf("missing file: %v", err)
	}
}

// TestDirStat: Dir reports what exists, what does not, and a path that
// leads outside through a symlink.
func TestDirStat(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "linux", "ubuntu"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "leak.pkrvars.hcl"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "linux", "out")); err != nil {
		t.Fatal(err)
	}
	d := Dir(root)
	if fi, err := d.Stat("linux/ubuntu"); err != nil || !fi.IsDir() {
		t.Errorf("linux/ubuntu: %v, %v", fi, err)
	}
	if _, err := d.Stat("linux/rocky"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("linux/rocky: %v, want not exist", err)
	}
	for _, rel := range []string{"linux/out", "linux/out/leak.pkrvars.hcl"} {
		if _, err := d.Stat(rel); !errors.Is(err, state.ErrOutsideWorkspace) || !strings.Contains(err.Error(), "outside") {
			t.Errorf("%s: %v, want ErrOutsideWorkspace", rel, err)
		}
	}
}

// TestLoadDesiredRefusesNonRegular: a FIFO (or a directory) given as the
// desired file is refused at once instead of blocking in open or read.
func TestLoadDesiredRefusesNonRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "templates.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := LoadDesired(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "is not a regular file") {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		// Unblock the open so the goroutine ends, then fail.
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		t.Fatal("LoadDesired blocked on a FIFO")
	}
	if _, err := LoadDesired(t.TempDir()); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("directory: %v", err)
	}
}
