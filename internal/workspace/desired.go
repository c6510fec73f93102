package workspace

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"templated/internal/atomicfile"
	"templated/internal/state"
)

// DefaultRoot is the Packer workspace of the desired file at desiredPath:
// <dir of desiredPath>/../packer.
func DefaultRoot(desiredPath string) string {
	return filepath.Join(filepath.Dir(desiredPath), "..", "packer")
}

// LoadDesired reads, parses and validates the desired file at path,
// checking its Packer paths against DefaultRoot(path).
func LoadDesired(path string) (*state.Desired, error) {
	return LoadDesiredFrom(path, DefaultRoot(path))
}

// LoadDesiredFrom is LoadDesired with the Packer workspace at root. Only a
// regular file (or a symlink to one) is read: a FIFO or a device would
// block or never end.
func LoadDesiredFrom(path, root string) (*state.Desired, error) {
	data, _, err := atomicfile.ReadRegular(path, state.MaxFileSize+1)
	if err != nil {
		return nil, fmt.Errorf("read desired state: %w", err)
	}
	return state.Parse(bytes.NewReader(data), path, state.ParseOptions{PackerRoot: root, Workspace: Dir(root)})
}

// Dir is a Packer workspace on the file system, as state.Parse asks about
// it: a path that leads outside through a symlink is reported as
// state.ErrOutsideWorkspace.
type Dir string

var _ state.Workspace = Dir("")

// Stat implements state.Workspace.
func (d Dir) Stat(rel string) (fs.FileInfo, error) {
	full := filepath.Join(string(d), filepath.FromSlash(rel))
	fi, err := os.Stat(full)
	if err != nil {
		return nil, err
	}
	root, err1 := filepath.EvalSymlinks(string(d))
	real, err2 := filepath.EvalSymlinks(full)
	if err1 != nil || err2 != nil {
		return fi, nil // both were just found; a race with a rename is not our concern
	}
	if r, err := filepath.Rel(root, real); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return nil, state.ErrOutsideWorkspace
	}
	return fi, nil
}
