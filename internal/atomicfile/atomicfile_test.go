package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestWriteReplacesAndLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for _, content := range []string{"old\n", "new\n"} {
		if err := WriteFile(p, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "new\n" {
		t.Fatalf("content %q, %v", got, err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if IsTemp(de.Name()) {
			t.Errorf("temporary file left: %s", de.Name())
		}
	}
}

func TestWriteExclusive(t *testing.T) {
	p := filepath.Join(t.TempDir(), "note")
	var points []string
	opts := Options{Exclusive: true, Point: "note", Hook: func(s string) { points = append(points, s) }}
	if err := Write(p, []byte("a"), opts); err != nil {
		t.Fatal(err)
	}
	if want := []string{"note:tmp", "note:renamed", "note:dirsynced"}; !slices.Equal(points, want) {
		t.Errorf("hook points %v, want %v", points, want)
	}
	if err := Write(p, []byte("a"), opts); err != nil {
		t.Errorf("same content again: %v", err)
	}
	err := Write(p, []byte("b"), opts)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "exists with other content") {
		t.Errorf("other content: %v", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "a" {
		t.Errorf("content %q after a refused write", got)
	}
}

func TestWithLockSerialises(t *testing.T) {
	lock := filepath.Join(t.TempDir(), "x.lock")
	counter := filepath.Join(filepath.Dir(lock), "n")
	done := make(chan error)
	for i := 0; i < 8; i++ {
		go func() {
			done <- WithLock(lock, func() error {
				b, _ := os.ReadFile(counter)
				return WriteFile(counter, append(b, 'x'), 0o600)
			})
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(counter); len(b) != 8 {
		t.Errorf("%d increments of 8: read-modify-write lost updates", len(b))
	}
}
