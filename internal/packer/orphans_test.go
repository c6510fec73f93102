package packer

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// startGroup starts cmd in its own process group, as the Runner starts
// Packer, and records it in dir.
func startGroup(t *testing.T, dir string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	if _, err := recordPID(dir, cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestReapOrphansKillsAfterGrace(t *testing.T) {
	dir := t.TempDir()
	cmd := startGroup(t, dir, "sleep", "60")
	done := make(chan *os.ProcessState, 1)
	go func() { st, _ := cmd.Process.Wait(); done <- st }()
	n, err := ReapOrphans(context.Background(), dir, 200*time.Millisecond)
	if err != nil || n != 1 {
		t.Fatalf("ReapOrphans = %d, %v; want 1 orphan", n, err)
	}
	st := <-done
	if ws := st.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the orphan ended with %v, want SIGKILL", st)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.pid")); len(left) != 0 {
		t.Fatalf("pid files left: %v", left)
	}
}

func TestReapOrphansWaitsForCleanExit(t *testing.T) {
	dir := t.TempDir()
	cmd := startGroup(t, dir, "sleep", "0.3")
	done := make(chan *os.ProcessState, 1)
	go func() { st, _ := cmd.Process.Wait(); done <- st }()
	n, err := ReapOrphans(context.Background(), dir, 30*time.Second)
	if err != nil || n != 1 {
		t.Fatalf("ReapOrphans = %d, %v", n, err)
	}
	if st := <-done; !st.Success() {
		t.Fatalf("the orphan was killed instead of allowed to finish: %v", st)
	}
}

func TestReapOrphansLeavesReusedPIDAlone(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
	// A record whose start time is not this process's: the PID was reused.
	if err := os.WriteFile(pidFile(dir, cmd.Process.Pid), []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := ReapOrphans(context.Background(), dir, 100*time.Millisecond)
	if err != nil || n != 0 {
		t.Fatalf("ReapOrphans = %d, %v; want 0", n, err)
	}
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("an unrelated process with a reused PID was killed: %v", err)
	}
}

func TestReapOrphansNoDir(t *testing.T) {
	if n, err := ReapOrphans(context.Background(), filepath.Join(t.TempDir(), "none"), time.Second); n != 0 || err != nil {
		t.Fatalf("ReapOrphans on a missing dir = %d, %v", n, err)
	}
}
