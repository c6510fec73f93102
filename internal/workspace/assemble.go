package workspace

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"templated/internal/state"
)

// Assemble makes template t's build directory dst (which must not exist)
// from the workspace at root with plugin generation gen (PluginGeneration
// picks it): the same tree as `packer/assemble.sh`. Packer then runs in
// dst with -var-file=<base name of t.VarFile>.
func Assemble(root string, t state.Template, gen, dst string) error {
	tree, err := buildTree(os.DirFS(root), t, gen)
	if err != nil {
		return fmt.Errorf("assemble %s: %w", t.Name, err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("assemble %s: %s already exists", t.Name, dst)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("assemble %s: %w", t.Name, err)
	}
	for _, rel := range slices.Sorted(maps.Keys(tree)) {
		if err := copyFile(filepath.Join(root, filepath.FromSlash(tree[rel])), filepath.Join(dst, filepath.FromSlash(rel))); err != nil {
			return fmt.Errorf("assemble %s: %w", t.Name, err)
		}
	}
	return nil
}

// copyFile copies src to dst with src's permission bits.
func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Chmod(info.Mode().Perm())
}
