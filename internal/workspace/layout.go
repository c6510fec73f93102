package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"templated/internal/state"
)

const (
	sharedDir  = "shared"
	genDir     = "shared/gen"
	varFileExt = ".pkrvars.hcl"
)

// Files returns every file of the workspace fsys that template t's build
// uses, sorted: all of shared/ (both plugin generations), the template's
// OS directory except the var files of other OS versions, and its var file.
// Paths are slash-separated and relative to fsys's root.
func Files(fsys fs.FS, t state.Template) ([]string, error) {
	if err := checkTemplatePaths(t); err != nil {
		return nil, err
	}
	if _, err := fs.Stat(fsys, t.VarFile); err != nil {
		return nil, fmt.Errorf("template %s: var file %s: %w", t.Name, t.VarFile, err)
	}
	shared, err := walkFiles(fsys, sharedDir)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", t.Name, err)
	}
	osFiles, err := walkFiles(fsys, t.Packer)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", t.Name, err)
	}
	files := shared
	for _, f := range osFiles {
		if !strings.HasSuffix(f, varFileExt) || f == t.VarFile {
			files = append(files, f)
		}
	}
	slices.Sort(files)
	return files, nil
}

// buildTree maps each file of t's build directory (relative to it) to its
// source in fsys, for plugin generation gen. It is the layout
// packer/assemble.sh makes: shared/* without gen/ at the top,
// shared/gen/<gen>/* at the top, the OS directory without var files, and
// the var file under its base name.
func buildTree(fsys fs.FS, t state.Template, gen string) (map[string]string, error) {
	if gen == "" || strings.ContainsAny(gen, `/\`) || gen == "." || gen == ".." {
		return nil, fmt.Errorf("invalid plugin generation %q", gen)
	}
	genPrefix := genDir + "/" + gen + "/"
	if _, err := fs.Stat(fsys, genDir+"/"+gen); err != nil {
		return nil, fmt.Errorf("plugin generation %s (%s%s): %w", gen, genPrefix, "*", err)
	}
	files, err := Files(fsys, t)
	if err != nil {
		return nil, err
	}
	tree := make(map[string]string, len(files))
	for _, f := range files {
		var dst string
		switch {
		case f == t.VarFile:
			dst = path.Base(f)
		case strings.HasPrefix(f, genPrefix):
			dst = strings.TrimPrefix(f, genPrefix)
		case strings.HasPrefix(f, genDir+"/"):
			continue // another generation
		case strings.HasPrefix(f, sharedDir+"/"):
			dst = strings.TrimPrefix(f, sharedDir+"/")
		default:
			dst = strings.TrimPrefix(f, t.Packer+"/")
		}
		if prev, dup := tree[dst]; dup {
			return nil, fmt.Errorf("template %s: %s comes from both %s and %s", t.Name, dst, prev, f)
		}
		tree[dst] = f
	}
	return tree, nil
}

// checkTemplatePaths refuses OS directories and var files that leave the
// workspace or do not belong together.
func checkTemplatePaths(t state.Template) error {
	for _, p := range []string{t.Packer, t.VarFile} {
		if p == "" || !fs.ValidPath(p) || p == "." {
			return fmt.Errorf("template %s: invalid workspace path %q", t.Name, p)
		}
	}
	if t.Packer == sharedDir || strings.HasPrefix(t.Packer, sharedDir+"/") {
		return fmt.Errorf("template %s: OS directory %s is inside %s/", t.Name, t.Packer, sharedDir)
	}
	if path.Dir(t.VarFile) != t.Packer || !strings.HasSuffix(t.VarFile, varFileExt) {
		return fmt.Errorf("template %s: var file %s must be a %s file directly in %s", t.Name, t.VarFile, varFileExt, t.Packer)
	}
	return nil
}

// walkFiles lists the regular files under dir, refusing anything else
// (symlinks would make the hash and the build disagree).
func walkFiles(fsys fs.FS, dir string) ([]string, error) {
	var files []string
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return nil
		case d.Type().IsRegular():
			files = append(files, p)
			return nil
		default:
			return fmt.Errorf("%s is not a regular file", p)
		}
	})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("directory %s: %w", dir, err)
		}
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return files, nil
}
