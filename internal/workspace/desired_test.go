package workspace

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
