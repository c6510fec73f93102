package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"templated/internal/journal"
	"templated/internal/packer"
	"templated/internal/workspace"
)

// Packer is what doctor asks of the Packer installation (*packer.Runner).
type Packer interface {
	Version(ctx context.Context) (string, error)
	PluginVersions(ctx context.Context) ([]packer.Plugin, error)
}

// ledgerDirName is the ledger's directory in the evidence root
// (internal/ledger's layout).
const ledgerDirName = "ledger"

func gatherLocal(ctx context.Context, in Input) Local {
	l := Local{PackerRoot: in.PackerRoot, KeyPath: in.KeyPath, StateDir: in.StateDir,
		LedgerDir: filepath.Join(in.EvidenceDir, ledgerDirName)}
	if gens, err := os.ReadDir(filepath.Join(in.PackerRoot, "shared", "gen")); err == nil {
		for _, g := range gens {
			if g.IsDir() {
				l.Generations = append(l.Generations, g.Name())
			}
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if in.Packer == nil {
		l.PackerErr = "no Packer configured"
	} else if v, err := in.Packer.Version(pctx); err != nil {
		l.PackerErr = err.Error()
	} else {
		l.PackerVersion = v
		plugins, err := in.Packer.PluginVersions(pctx)
		if err != nil {
			l.PluginErr = err.Error()
		} else if p, ok := packer.Newest(plugins, workspace.PluginSource); ok {
			l.PluginVersion = p.Version
		}
	}
	l.KeyErr = keyProblem(in.KeyPath)
	l.LedgerErr = writableProblem(l.LedgerDir)
	l.LockErr = lockProblem(in.StateDir)
	return l
}

// keyProblem says what is wrong with the signing key file ("" if nothing).
func keyProblem(path string) string {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no signing key at " + path
	case err != nil:
		return err.Error()
	case !fi.Mode().IsRegular():
		return path + " is not a regular file"
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Sprintf("%s has mode %v: the ledger refuses a key others can read", path, fi.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	f.Close()
	return ""
}

// writableProblem tries to create and remove a file in dir.
func writableProblem(dir string) string {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return "no ledger at " + dir
	}
	f, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		return fmt.Sprintf("%s is not writable: %v", dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	return ""
}

// lockProblem takes the state directory's lock and releases it at once.
// A state directory that does not exist yet has a free lock.
func lockProblem(dir string) string {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return ""
	}
	j, err := journal.OpenJournal(dir)
	if err != nil {
		return err.Error()
	}
	unlock, err := j.Lock()
	if err != nil {
		return err.Error()
	}
	unlock()
	return ""
}
