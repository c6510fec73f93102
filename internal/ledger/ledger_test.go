package ledger

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestCleanLedgerVerifies(t *testing.T) {
	f := newFixture(t)
	populate(t, f)
	r := f.verify(t)
	if r.Status() != StatusIntact || len(r.Findings) != 0 {
		t.Fatalf("clean ledger: %s %v", r.Status(), r.Findings)
	}
	if r.Entries != 8 || r.Sealed != 8 || r.Envelopes != 1 || r.Evidence != 8 {
		t.Fatalf("report counts: %+v", r)
	}
	// Reopening a clean ledger repairs nothing and appends nothing.
	l := f.open(t)
	defer l.Close()
	if l.Repaired() != nil || l.Len() != 8 {
		t.Fatalf("reopen: repaired %+v, len %d", l.Repaired(), l.Len())
	}
}

func TestOpenErrors(t *testing.T) {
	f := newFixture(t)
	l := f.open(t)
	defer l.Close()
	if _, err := Open(context.Background(), Options{Dir: f.dir, KeyFile: f.keyFile}); !errors.Is(err, ErrLocked) {
		t.Errorf("second writer: %v, want ErrLocked", err)
	}
	inside := f.path("ledger.key")
	if _, err := GenerateKey(inside, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), Options{Dir: f.dir, KeyFile: inside}); !errors.Is(err, ErrKeyInsideTree) {
		t.Errorf("key inside evidence: %v", err)
	}
	if _, err := GenerateKey(f.keyFile, "again"); !errors.Is(err, os.ErrExist) {
		t.Errorf("overwrite key: %v", err)
	}
	if err := os.Chmod(f.keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKey(f.keyFile); err == nil || !strings.Contains(err.Error(), "want 0600") {
		t.Errorf("group-readable key: %v", err)
	}
}

func TestAppendRejectsInvalidAndSecrets(t *testing.T) {
	f := newFixture(t)
	l, err := Open(context.Background(), Options{Dir: f.dir, KeyFile: f.keyFile, Secrets: []string{"s3cr3t-token"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, e := range []Entry{
		{Kind: "Bad Kind"},
		{Kind: KindBuildStarted, Template: "x"},
		{Kind: KindBuildFinished, Template: "../etc", BuildID: "b", Result: "success"},
		{Kind: KindStep, Error: "auth failed for s3cr3t-token"},
		{Kind: KindStep, Error: "header czNjcjN0LXRva2Vu"}, // base64 of the secret
		{Kind: KindStep, Evidence: []Evidence{{Name: "x", Path: "/etc/passwd", SHA256: sha("x")}}},
	} {
		if _, err := l.Append(context.Background(), e); err == nil {
			t.Errorf("append %+v: no error", e)
		}
	}
	if l.Len() != 0 {
		t.Fatalf("rejected entries were written: %d", l.Len())
	}
	mustAppend(t, l, Entry{Kind: KindStep, Step: "ok"})
}

func TestFsyncFailurePoisonsWriter(t *testing.T) {
	f := newFixture(t)
	l := f.open(t)
	defer l.Close()
	mustAppend(t, l, Entry{Kind: KindStep, Step: "one"})
	l.sync = func(*os.File) error { return errors.New("EIO") }
	if _, err := l.Append(context.Background(), Entry{Kind: KindStep, Step: "two"}); !errors.Is(err, ErrPoisoned) {
		t.Fatalf("append with failing fsync: %v", err)
	}
	l.sync = (*os.File).Sync
	if _, err := l.Append(context.Background(), Entry{Kind: KindStep, Step: "three"}); !errors.Is(err, ErrPoisoned) {
		t.Fatalf("append after a failed fsync must stay stopped: %v", err)
	}
	l.Close()
	// The line whose fsync "failed" did reach the file; it is unsealed and
	// signed, so a reopen seals it.
	if r := f.verify(t); r.Status() != StatusRepairable {
		t.Fatalf("after poison: %s %v", r.Status(), r.Findings)
	}
	rep, err := Repair(context.Background(), Options{Dir: f.dir, KeyFile: f.keyFile})
	if err != nil || rep == nil || len(rep.Sealed) != 1 || rep.Sealed[0] != 1 {
		t.Fatalf("repair: %+v %v", rep, err)
	}
	if r := f.verify(t); r.Status() != StatusIntact {
		t.Fatalf("after repair: %v", r.Findings)
	}
}
