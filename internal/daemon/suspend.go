package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"templated/internal/atomicfile"
	"templated/internal/state"
)

// File names under the state directory.
const (
	suspensionsFile = "suspensions.json"
	suspensionsLock = "suspensions.lock"
)

// Suspension is the daemon's record of a template whose builds fail: the
// count of consecutive failed builds and, once FailureLimit is reached, the
// suspension itself. It lives in <state dir>/suspensions.json so that it
// survives restarts.
type Suspension struct {
	// Failures counts consecutive failed builds.
	Failures  int    `json:"failures"`
	LastError string `json:"last_error,omitempty"`
	// Suspended is set once Failures reached the limit.
	Suspended bool      `json:"suspended"`
	Reason    string    `json:"reason,omitempty"`
	Since     time.Time `json:"since,omitzero"`
	// Entry is the fingerprint of the desired entry the failures were
	// counted against; another entry releases the suspension.
	Entry string `json:"entry"`
	// Inputs is the inputs hash the reconciler reported with the last
	// failure ("" if none); another hash releases the suspension.
	Inputs string `json:"inputs,omitempty"`
}

type suspensionsDoc struct {
	Version   int                    `json:"version"`
	Templates map[string]*Suspension `json:"templates"`
}

// Suspensions reads the suspensions kept in stateDir (for `templated
// status` and `templated resume`). A missing file means none.
func Suspensions(stateDir string) (map[string]Suspension, error) {
	m, err := readSuspensions(filepath.Join(stateDir, suspensionsFile))
	if err != nil {
		return nil, err
	}
	return copySuspensions(m), nil
}

// Resume lifts the suspension of template name and forgets its failure
// count. found is false when the template was neither suspended nor
// counting failures. The daemon picks the change up at its next run
// (`systemctl reload templated` starts one at once).
func Resume(stateDir, name string) (found bool, err error) {
	err = updateSuspensions(stateDir, func(m map[string]*Suspension) error {
		_, found = m[name]
		delete(m, name)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("resume %s: %w", name, err)
	}
	return found, nil
}

// updateSuspensions reads the suspensions under an exclusive lock, lets fn
// change them and writes them back atomically if fn returns nil.
func updateSuspensions(stateDir string, fn func(map[string]*Suspension) error) error {
	return atomicfile.WithLock(filepath.Join(stateDir, suspensionsLock), func() error {
		path := filepath.Join(stateDir, suspensionsFile)
		m, err := readSuspensions(path)
		if err != nil {
			return err
		}
		before, _ := json.Marshal(m)
		if err := fn(m); err != nil {
			return err
		}
		after, _ := json.Marshal(m)
		if string(before) == string(after) {
			return nil
		}
		data, err := json.MarshalIndent(suspensionsDoc{Version: 1, Templates: m}, "", "  ")
		if err != nil {
			return fmt.Errorf("encode suspensions: %w", err)
		}
		if err := atomicfile.WriteFile(path, append(data, '\n'), 0o600); err != nil {
			return fmt.Errorf("write suspensions: %w", err)
		}
		return nil
	})
}

func readSuspensions(path string) (map[string]*Suspension, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]*Suspension{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read suspensions: %w", err)
	}
	var doc suspensionsDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("read suspensions %s: %w", path, err)
	}
	if doc.Templates == nil {
		doc.Templates = map[string]*Suspension{}
	}
	return doc.Templates, nil
}

// entryFingerprint identifies a desired entry: any change to what the
// template is built from gives another fingerprint (the line number and
// the suspension flags do not count).
func entryFingerprint(t state.Template) string {
	release := ""
	if t.Release != nil {
		release = t.Release.String()
	}
	data, _ := json.Marshal([]any{
		t.Name, t.VMID, t.OS, t.OSVersion, release, t.Packer, t.VarFile, t.Build,
		t.Node, t.Storage, t.ISOStorage, t.Cores, t.MemoryMiB, t.DiskGB,
		t.MaxAge.String(), t.PatchSchedule, t.Timezone, t.KeepPrevious, t.BuildTimeout.String(),
	})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}
