package pvesim

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// contentSubdir is where a dir storage keeps each file content type
// (pve-storage src/PVE/Storage/Plugin.pm $vtype_subdirs).
var contentSubdir = map[string]string{"iso": "template/iso", "vztmpl": "template/cache", "import": "import"}

// kind is the file's content type (iso when unset).
func (f ISOSpec) kind() string { return cmpOr(f.Content, "iso") }

// volid is "storage:content/file".
func (f ISOSpec) volid() string { return f.Storage + ":" + f.kind() + "/" + f.File }

// diskSize is what qemu-img info calls the virtual size.
func (f ISOSpec) diskSize() int64 {
	if f.VirtualSize > 0 {
		return f.VirtualSize
	}
	return f.Size
}

// format is the format the content listing shows (get_subdir_files in
// Plugin.pm): iso; tar, tgz, txz, tzst, tbz2 for templates; the
// extension (qcow2, raw, vmdk, ova, ovf) for import.
func (f ISOSpec) format() string {
	switch f.kind() {
	case "vztmpl":
		if m := reVztmplExt.FindStringSubmatch(f.File); m != nil && m[2] != "" {
			return "t" + m[2]
		}
		return "tar"
	case "import":
		return strings.TrimPrefix(filepath.Ext(f.File), ".")
	}
	return "iso"
}

// qemuFormat is the format qemu-img info reports for the file, as
// volume_size_info asks it with parse_volname's format: raw for ISOs and
// templates (and OVA/OVF archives, which qemu-img does not know).
func (f ISOSpec) qemuFormat() string {
	switch format := f.format(); format {
	case "qcow2", "vmdk":
		return format
	}
	return "raw"
}

func (f ISOSpec) validate() error {
	if _, ok := contentSubdir[f.kind()]; !ok {
		return fmt.Errorf("file %s: content %q: want iso, vztmpl or import", f.File, f.Content)
	}
	if f.File == "" || strings.ContainsAny(f.File, "/\\") || strings.HasPrefix(f.File, ".") {
		return fmt.Errorf("file %q: want a plain file name", f.File)
	}
	return nil
}

// storageBase is a file storage's path: /var/lib/vz for local, else
// /mnt/pve/<id>, where pvesm puts a storage added in the GUI.
func storageBase(st StorageSpec) string {
	if st.Name == "local" {
		return "/var/lib/vz"
	}
	return "/mnt/pve/" + st.Name
}

// pvePath is where PVE keeps a file of a storage (PVE::Storage::path).
func pvePath(st StorageSpec, content, file string) string {
	return storageBase(st) + "/" + contentSubdir[content] + "/" + file
}

// fileStore is where the simulator keeps the bytes of downloaded files:
// Options.DataDir, or a temporary directory made at the first download
// and removed at Close. Seeded files and uploads have no bytes there.
type fileStore struct {
	mu   sync.Mutex
	dir  string
	temp bool
}

// root returns the directory, making a temporary one if none is set.
func (s *fileStore) root() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		dir, err := os.MkdirTemp("", "pvesim-files-")
		if err != nil {
			return "", fmt.Errorf("data dir: %w", err)
		}
		s.dir, s.temp = dir, true
	}
	return s.dir, nil
}

// path is where f's bytes are kept: DIR/<storage>/<subdir>/<file>; its
// directory is made.
func (s *fileStore) path(f ISOSpec) (string, error) {
	root, err := s.root()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, f.Storage, filepath.FromSlash(contentSubdir[f.kind()]), f.File)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	return p, nil
}

// existing is the path of f's bytes if the simulator has them.
func (s *fileStore) existing(f ISOSpec) (string, bool) {
	s.mu.Lock()
	root := s.dir
	s.mu.Unlock()
	if root == "" {
		return "", false
	}
	p := filepath.Join(root, f.Storage, filepath.FromSlash(contentSubdir[f.kind()]), f.File)
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
		return "", false
	}
	return p, true
}

// remove drops f's bytes, if any.
func (s *fileStore) remove(f ISOSpec) {
	if p, ok := s.existing(f); ok {
		_ = os.Remove(p)
	}
}

// close removes a temporary directory.
func (s *fileStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.temp {
		return nil
	}
	err := os.RemoveAll(s.dir)
	s.dir, s.temp = "", false
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove data dir: %w", err)
	}
	return nil
}

// AddFile adds (or replaces) a file of a storage: an ISO, a container
// template or an image to import (f.Content), without bytes.
func (c *Cluster) AddFile(f ISOSpec) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("add file: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.storage(f.Storage); !ok {
		return fmt.Errorf("add file: storage %q does not exist", f.Storage)
	}
	if f.Ctime == 0 {
		f.Ctime = c.now().Unix()
	}
	c.isos[f.volid()] = f
	c.onChange()
	return nil
}

// DataPath is the file holding a downloaded volume's bytes
// ("local:import/x.qcow2"), if the simulator has them.
func (c *Cluster) DataPath(volid string) (string, bool) {
	c.mu.RLock()
	f, ok := c.isos[volid]
	c.mu.RUnlock()
	if !ok {
		return "", false
	}
	return c.files.existing(f)
}
