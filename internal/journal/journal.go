// Package journal owns templated's state directory: the journal of
// operations in flight (one file per template, written before every step so
// that a crash can be finished or rolled back), the holds set by rollback,
// and the directory's exclusive lock that keeps two templated processes on
// one host from acting at once.
package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"templated/internal/atomicfile"
	"templated/internal/state"
)

// Step names an operation's progress in the journal. An operation moves
// through them in order; the journal is written before each step starts,
// so after a crash the last recorded step is the one that may be half done.
type Step string

const (
	StepAllocated     Step = "allocated"      // staging VMID chosen, nothing built yet
	StepBuilding      Step = "building"       // Packer runs at the staging VMID
	StepVerifying     Step = "verifying"      // checking and stamping the staged template
	StepKeepPrevious  Step = "keep-previous"  // copying the current template to the previous range
	StepDeleteCurrent Step = "delete-current" // removing the current template from the reserved VMID
	StepPlaceNew      Step = "place-new"      // cloning the staged template to the reserved VMID
	StepCleanup       Step = "cleanup"        // removing the staging VM, pruning previous versions
	StepRestore       Step = "restore"        // putting a previous version back at the reserved VMID
	// StepImages is a build's preparation: its images downloaded and its
	// base VM made. It is never journalled (nothing is allocated yet); a
	// build that fails there reports it as its step.
	StepImages Step = "images"
)

// Op is one operation in flight on one template.
type Op struct {
	Kind     string `json:"kind"` // "build", "rollback" or "adopt"
	Template string `json:"template"`
	BuildID  string `json:"build_id"`
	Node     string `json:"node"`
	VMID     int    `json:"vmid"`               // the reserved VMID
	Staging  int    `json:"staging,omitempty"`  // staging VMID, once allocated
	Previous int    `json:"previous,omitempty"` // where the current template is kept, once chosen
	// Source is the template placed at the reserved VMID: the staging
	// build, or the previous version a rollback restores.
	Source  int       `json:"source,omitempty"`
	Step    Step      `json:"step"`
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
	// HadCurrent records whether a template stood at the reserved VMID
	// when the operation began (a rebuild rather than a create).
	HadCurrent bool `json:"had_current"`
}

// Journal keeps operations in flight, one file per template, under a state
// directory, plus the holds set by rollback. Every write is atomic and
// durable (temporary file, fsync, rename, fsync of the directory).
type Journal struct {
	dir string
}

// OpenJournal opens (creating) the journal under dir.
func OpenJournal(dir string) (*Journal, error) {
	if err := os.MkdirAll(filepath.Join(dir, "ops"), 0o700); err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	return &Journal{dir: dir}, nil
}

// Dir returns the state directory.
func (j *Journal) Dir() string { return j.dir }

func (j *Journal) opPath(template string) string {
	return filepath.Join(j.dir, "ops", template+".json")
}

// Put records op (before its step starts).
func (j *Journal) Put(op Op) error {
	if op.Template == "" || strings.ContainsAny(op.Template, `/\`) {
		return fmt.Errorf("journal: bad template name %q", op.Template)
	}
	b, err := json.MarshalIndent(op, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(j.opPath(op.Template), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("journal %s at %s: %w", op.Template, op.Step, err)
	}
	return nil
}

// Done removes template's operation: it finished, or was rolled back.
func (j *Journal) Done(template string) error {
	err := os.Remove(j.opPath(template))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal: finish %s: %w", template, err)
	}
	return atomicfile.SyncDir(filepath.Join(j.dir, "ops"))
}

// Get returns template's operation in flight, if there is one.
func (j *Journal) Get(template string) (Op, bool, error) {
	b, err := os.ReadFile(j.opPath(template))
	if errors.Is(err, os.ErrNotExist) {
		return Op{}, false, nil
	}
	if err != nil {
		return Op{}, false, fmt.Errorf("read journal: %w", err)
	}
	var op Op
	if err := json.Unmarshal(b, &op); err != nil {
		return Op{}, false, fmt.Errorf("read journal %s: %w", j.opPath(template), err)
	}
	return op, true, nil
}

// Pending returns the operations in flight, sorted by template.
func (j *Journal) Pending() ([]Op, error) {
	entries, err := os.ReadDir(filepath.Join(j.dir, "ops"))
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	var ops []Op
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(j.dir, "ops", e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read journal: %w", err)
		}
		var op Op
		if err := json.Unmarshal(b, &op); err != nil {
			return nil, fmt.Errorf("read journal %s: %w", path, err)
		}
		ops = append(ops, op)
	}
	sort.Slice(ops, func(a, b int) bool { return ops[a].Template < ops[b].Template })
	return ops, nil
}

func (j *Journal) holdsPath() string { return filepath.Join(j.dir, "holds.json") }

// Holds returns the templates held after a rollback.
func (j *Journal) Holds() (map[string]state.Hold, error) {
	b, err := os.ReadFile(j.holdsPath())
	if errors.Is(err, os.ErrNotExist) {
		return map[string]state.Hold{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read holds: %w", err)
	}
	h := map[string]state.Hold{}
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("read holds %s: %w", j.holdsPath(), err)
	}
	return h, nil
}

// SetHold holds template (h != nil) or releases it (h == nil). The
// read-modify-write runs under an exclusive lock of its own, not the state
// lock, so that `templated resume` can release a hold while the daemon
// runs without either losing the other's change.
func (j *Journal) SetHold(template string, h *state.Hold) error {
	return atomicfile.WithLock(filepath.Join(j.dir, "holds.lock"), func() error {
		all, err := j.Holds()
		if err != nil {
			return err
		}
		if h == nil {
			delete(all, template)
		} else {
			all[template] = *h
		}
		b, err := json.MarshalIndent(all, "", "  ")
		if err != nil {
			return err
		}
		return atomicfile.WriteFile(j.holdsPath(), append(b, '\n'), 0o600)
	})
}

// Lock takes the state directory's exclusive lock, so that two templated
// processes never act on one cluster from this host at once. It fails at
// once, naming the holder's PID, when another process has it.
func (j *Journal) Lock() (unlock func(), err error) {
	path := filepath.Join(j.dir, "LOCK")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another templated process (pid %s) is acting on the cluster; lock %s", strings.TrimSpace(string(holder)), path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
