package gitsource

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"templated/internal/atomicfile"
)

// maxLinkHops bounds the symlinks followed while checking one link.
const maxLinkHops = 40

// checkout returns the directory holding c's tree, writing it when missing:
// into a temporary directory first, renamed into place once complete, so
// Dir/checkouts/<commit> is always whole. A tree that cannot be checked out
// safely (a symlink leaving it, a bad entry name) is a *refusal.
func (s *Source) checkout(c *object.Commit) (string, error) {
	final := s.checkoutPath(c.Hash.String())
	if fi, err := os.Lstat(final); err == nil && fi.IsDir() {
		return final, nil
	}
	parent := filepath.Dir(final)
	tmp, err := os.MkdirTemp(parent, c.Hash.String()+tmpMark)
	if err != nil {
		return "", fmt.Errorf("checkout %s: %w", c.Hash, err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("checkout %s: %w", c.Hash, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return "", fmt.Errorf("checkout %s: read tree: %w", c.Hash, err)
	}
	var links []string
	if err := writeTree(tree, tmp, "", &links); err != nil {
		return "", err
	}
	for _, l := range links {
		if err := followInside(tmp, l); err != nil {
			return "", &refusal{RefusedInvalid, fmt.Sprintf("symlink %s: %v", l, err)}
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("checkout %s: %w", c.Hash, err)
	}
	done = true
	if err := atomicfile.SyncDir(parent); err != nil {
		return "", err
	}
	return final, nil
}

// writeTree writes t's entries under root/rel: regular files 0644 or 0755,
// directories 0755, symlinks as symlinks (collected in links for
// checking), submodules skipped. Each file and directory is synced.
func writeTree(t *object.Tree, root, rel string, links *[]string) error {
	dir := filepath.Join(root, rel)
	for _, e := range t.Entries {
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00") {
			return &refusal{RefusedInvalid, fmt.Sprintf("tree entry %q in %q is not a file name", e.Name, rel)}
		}
		name := path.Join(rel, e.Name)
		p := filepath.Join(dir, e.Name)
		var err error
		switch e.Mode {
		case filemode.Dir:
			if err := writeDir(t, e, root, name, links); err != nil {
				return err
			}
		case filemode.Regular, filemode.Deprecated:
			err = writeBlob(t, e, p, 0o644)
		case filemode.Executable:
			err = writeBlob(t, e, p, 0o755)
		case filemode.Symlink:
			err = writeLink(t, e, p)
			*links = append(*links, name)
		case filemode.Submodule:
			continue
		default:
			return &refusal{RefusedInvalid, fmt.Sprintf("tree entry %s has mode %s", name, e.Mode)}
		}
		var r *refusal
		switch {
		case errors.As(err, &r):
			return err
		case errors.Is(err, fs.ErrExist):
			return &refusal{RefusedInvalid, fmt.Sprintf("tree entry %s appears twice", name)}
		case err != nil:
			return fmt.Errorf("checkout %s: %w", name, err)
		}
	}
	return atomicfile.SyncDir(dir)
}

func writeDir(t *object.Tree, e object.TreeEntry, root, name string, links *[]string) error {
	p := filepath.Join(root, name)
	if err := os.Mkdir(p, 0o755); errors.Is(err, fs.ErrExist) {
		return &refusal{RefusedInvalid, fmt.Sprintf("tree entry %s appears twice", name)}
	} else if err != nil {
		return fmt.Errorf("checkout %s: %w", name, err)
	}
	if err := os.Chmod(p, 0o755); err != nil {
		return fmt.Errorf("checkout %s: %w", name, err)
	}
	sub, err := t.Tree(e.Name)
	if err != nil {
		return fmt.Errorf("checkout %s: %w", name, err)
	}
	return writeTree(sub, root, name, links)
}

func writeBlob(t *object.Tree, e object.TreeEntry, p string, mode os.FileMode) error {
	f, err := t.TreeEntryFile(&e)
	if err != nil {
		return err
	}
	r, err := f.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	out, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	if err := out.Chmod(mode); err != nil { // the umask does not decide
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func writeLink(t *object.Tree, e object.TreeEntry, p string) error {
	f, err := t.TreeEntryFile(&e)
	if err != nil {
		return err
	}
	target, err := f.Contents()
	if err != nil {
		return err
	}
	if target == "" || strings.ContainsRune(target, 0) {
		return &refusal{RefusedInvalid, fmt.Sprintf("symlink %s has no usable target", filepath.Base(p))}
	}
	return os.Symlink(target, p)
}

var errEscapes = errors.New("points outside the checkout")

// followInside resolves the symlink at link (slash-separated, relative to
// root) the way the kernel would, over what is on disk, and fails if any
// step leaves root: an absolute target, or ".." above root.
func followInside(root, link string) error {
	hops := 0
	_, err := follow(root, nil, strings.Split(link, "/"), &hops)
	return err
}

// follow applies path components to stack (the resolved components below
// root, none a symlink) and returns the new stack.
func follow(root string, stack, comps []string, hops *int) ([]string, error) {
	for _, c := range comps {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return nil, errEscapes
			}
			stack = stack[:len(stack)-1]
			continue
		}
		stack = append(stack, c)
		p := filepath.Join(append([]string{root}, stack...)...)
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			// Missing (or not a directory): the rest is taken lexically,
			// which is stricter than the kernel.
			continue
		}
		if *hops++; *hops > maxLinkHops {
			return nil, errors.New("too many levels of symlinks")
		}
		target, err := os.Readlink(p)
		if err != nil {
			return nil, err
		}
		if filepath.IsAbs(target) {
			return nil, errEscapes
		}
		if stack, err = follow(root, stack[:len(stack)-1], strings.Split(target, "/"), hops); err != nil {
			return nil, err
		}
	}
	return stack, nil
}
