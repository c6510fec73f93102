package state

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"testing"
)

// rootWorkspace is the tests' Workspace on the file system. os.Root keeps
// every lookup inside the directory: a path through a symlink that leads
// out fails to Stat while one of its prefixes Lstats as a link, which is
// ErrOutsideWorkspace.
type rootWorkspace struct{ root *os.Root }

func (w rootWorkspace) Stat(rel string) (fs.FileInfo, error) {
	fi, err := w.root.Stat(rel)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		for p := rel; p != "."; p = path.Dir(p) {
			if li, lerr := w.root.Lstat(p); lerr == nil && li.Mode()&fs.ModeSymlink != 0 {
				return nil, ErrOutsideWorkspace
			}
		}
	}
	return fi, err
}

// loadFile parses the desired file at path against the Packer workspace at
// packerRoot, as workspace.LoadDesiredFrom does.
func loadFile(t testing.TB, path, packerRoot string) (*Desired, error) {
	t.Helper()
	root, err := os.OpenRoot(packerRoot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, path, ParseOptions{PackerRoot: packerRoot, Workspace: rootWorkspace{root}})
}
