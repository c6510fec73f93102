package packer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Orphans: when templated dies (kill -9, a crash), each Packer it started
// is told to clean up (SIGTERM through Pdeathsig) and goes on deleting its
// build VM for a while. A templated started meanwhile must not reuse that
// VM's staging VMID before the orphan is done, or the orphan deletes the
// new build's VM. So the Runner records each Packer it starts in PIDDir,
// and ReapOrphans waits for (or kills) the ones a dead predecessor left.

// pidFile records a running Packer: its process group in the file name,
// its start time (to tell a reused PID apart) in the content.
func pidFile(dir string, pid int) string { return filepath.Join(dir, strconv.Itoa(pid)+".pid") }

// recordPID writes dir/<pid>.pid; the returned func removes it.
func recordPID(dir string, pid int) (func(), error) {
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	start, err := startTime(pid)
	if err != nil {
		return nil, err
	}
	p := pidFile(dir, pid)
	if err := os.WriteFile(p, []byte(start+"\n"), 0o600); err != nil {
		return nil, err
	}
	return func() { _ = os.Remove(p) }, nil
}

// startTime is field 22 of /proc/<pid>/stat: when the process started.
func startTime(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	// The command name (field 2) may hold spaces; fields after it do not.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return f[19], nil
}

// ReapOrphans waits until every Packer recorded in dir by an earlier
// templated has exited, giving each up to grace to finish its clean-up
// before its process group is killed, and forgets them. It returns how many
// were still running. Processes not recorded there are never touched, and
// a recorded PID that now names another process (its start time differs)
// is only forgotten.
func ReapOrphans(ctx context.Context, dir string, grace time.Duration) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reap orphaned packer processes: %w", err)
	}
	alive := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".pid"))
		if err != nil || !strings.HasSuffix(e.Name(), ".pid") {
			continue
		}
		p := pidFile(dir, pid)
		want, _ := os.ReadFile(p)
		if got, err := startTime(pid); err == nil && got == strings.TrimSpace(string(want)) {
			alive++
			if err := waitOrphan(ctx, pid, strings.TrimSpace(string(want)), grace); err != nil {
				return alive, err
			}
		}
		_ = os.Remove(p)
	}
	return alive, nil
}

// waitOrphan waits for process pid (started at start) to exit, killing its
// group after grace.
func waitOrphan(ctx context.Context, pid int, start string, grace time.Duration) error {
	deadline := time.Now().Add(grace)
	for {
		if got, err := startTime(pid); err != nil || got != start {
			return nil
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(time.Hour) // wait for the kill to land
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
