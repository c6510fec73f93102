package daemon

import (
	"path/filepath"
	"syscall"
	"testing"
)

// TestFileSHA256RefusesFIFO: a desired path that is a FIFO must not block
// the daemon's loop (os.ReadFile would wait for a writer forever).
func TestFileSHA256RefusesFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "templates.yaml")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan string, 1)
	go func() { done <- fileSHA256(p) }()
	if sum := <-done; sum != "" {
		t.Errorf("sha256 of a FIFO = %q, want none", sum)
	}
}
