package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"templated/internal/state"
)

func TestJournalRoundTrip(t *testing.T) {
	j, err := OpenJournal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	op := Op{Kind: "build", Template: "tpl-ubuntu-22.04", BuildID: "b1", Node: "pve1", VMID: 9000, Staging: 9900, Step: StepBuilding, Started: at, Updated: at}
	if err := j.Put(op); err != nil {
		t.Fatal(err)
	}
	op.Step = StepDeleteCurrent
	op.Previous = 9950
	if err := j.Put(op); err != nil {
		t.Fatal(err)
	}
	if err := j.Put(Op{Kind: "rollback", Template: "tpl-rocky-9", VMID: 9002, Step: StepRestore}); err != nil {
		t.Fatal(err)
	}
	ops, err := j.Pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 2 || ops[0].Template != "tpl-rocky-9" || ops[1].Step != StepDeleteCurrent || ops[1].Previous != 9950 {
		t.Fatalf("pending = %+v", ops)
	}
	if got, ok, err := j.Get("tpl-ubuntu-22.04"); err != nil || !ok || got.Step != StepDeleteCurrent || got.Previous != 9950 {
		t.Fatalf("Get = %+v, %v, %v", got, ok, err)
	}
	if err := j.Done("tpl-ubuntu-22.04"); err != nil {
		t.Fatal(err)
	}
	if err := j.Done("tpl-ubuntu-22.04"); err != nil {
		t.Fatalf("second Done: %v", err)
	}
	if _, ok, err := j.Get("tpl-ubuntu-22.04"); err != nil || ok {
		t.Fatalf("Get after Done = %v, %v", ok, err)
	}
	ops, _ = j.Pending()
	if len(ops) != 1 {
		t.Fatalf("after Done: %+v", ops)
	}
	// No temporary files are left behind by the atomic writes.
	left, _ := filepath.Glob(filepath.Join(j.Dir(), "ops", ".*tmp*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	info, _ := os.Stat(filepath.Join(j.Dir(), "ops", "tpl-rocky-9.json"))
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("journal file mode %v, want 0600", info.Mode().Perm())
	}
}

func TestJournalRejectsPathInName(t *testing.T) {
	j, _ := OpenJournal(t.TempDir())
	if err := j.Put(Op{Template: "../evil"}); err == nil {
		t.Fatal("a template name with a slash was accepted")
	}
}

func TestJournalHolds(t *testing.T) {
	j, _ := OpenJournal(t.TempDir())
	h, err := j.Holds()
	if err != nil || len(h) != 0 {
		t.Fatalf("empty holds = %v, %v", h, err)
	}
	if err := j.SetHold("tpl-a", &state.Hold{Reason: "rollback", InputsHash: "abc"}); err != nil {
		t.Fatal(err)
	}
	if err := j.SetHold("tpl-b", &state.Hold{Reason: "rollback"}); err != nil {
		t.Fatal(err)
	}
	if err := j.SetHold("tpl-b", nil); err != nil {
		t.Fatal(err)
	}
	h, _ = j.Holds()
	if len(h) != 1 || h["tpl-a"].InputsHash != "abc" {
		t.Fatalf("holds = %v", h)
	}
}

// TestJournalHoldsConcurrent changes holds from many writers at once (the
// daemon and `templated resume` are separate processes; each SetHold opens
// its own lock, as they do): no change may be lost.
func TestJournalHoldsConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, _ := OpenJournal(dir)
			errs <- j.SetHold(fmt.Sprintf("tpl-%02d", i), &state.Hold{Reason: "rollback"})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	j, _ := OpenJournal(dir)
	if h, err := j.Holds(); err != nil || len(h) != n {
		t.Fatalf("%d holds after %d concurrent SetHold calls (err %v): %v", len(h), n, err, h)
	}
}

func TestJournalLockIsExclusive(t *testing.T) {
	j, _ := OpenJournal(t.TempDir())
	unlock, err := j.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Lock(); err == nil || !strings.Contains(err.Error(), "another templated process") {
		t.Fatalf("second lock: %v", err)
	}
	unlock()
	unlock2, err := j.Lock()
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}
