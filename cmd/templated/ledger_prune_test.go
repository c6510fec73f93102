package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"templated/internal/ledger"
)

// TestLedgerPruneCommand: two successful builds of one template, 500 and
// 499 days old; prune with a 400-day retention removes the older folder,
// keeps the newest, records the prune, and the ledger still verifies.
func TestLedgerPruneCommand(t *testing.T) {
	base := t.TempDir()
	dir, key := filepath.Join(base, "evidence"), filepath.Join(base, "keys", "ledger.key")
	if code, _, errs := runCLI(t, "ledger", "init", "--dir", dir, "--key", key); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	ctx := context.Background()
	at := time.Now().Add(-500 * 24 * time.Hour)
	l, err := ledger.Open(ctx, ledger.Options{Dir: dir, KeyFile: key, Clock: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"b-old", "b-new"} {
		ev, err := l.NewBuild("tpl-rocky-9", id)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ev.LogPath, []byte("packer log "+id+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		e, err := ev.Finish(ctx, ledger.BuildInfo{Result: "success", StartedAt: at})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
		at = at.Add(24 * time.Hour)
	}
	l.Close()

	if code, _, errs := runCLI(t, "ledger", "prune", "--dir", dir, "--key", key, "--retention", "soon"); code != 2 || !strings.Contains(errs, "-retention") {
		t.Fatalf("a bad retention was accepted: %d %s", code, errs)
	}
	code, out, errs := runCLI(t, "ledger", "prune", "--dir", dir, "--key", key, "--retention", "400d")
	if code != 0 || !strings.Contains(out, "pruned 1 evidence folder") || !strings.Contains(out, "tpl-rocky-9/b-old") {
		t.Fatalf("prune: %d\n%s\n%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "tpl-rocky-9", "b-old")); !os.IsNotExist(err) {
		t.Fatal("the old evidence folder is still there")
	}
	if _, err := os.Stat(filepath.Join(dir, "tpl-rocky-9", "b-new")); err != nil {
		t.Fatal("the newest successful build's evidence was pruned")
	}
	if code, out, _ := runCLI(t, "ledger", "prune", "--dir", dir, "--key", key, "--retention", "400d"); code != 0 || !strings.Contains(out, "nothing older") {
		t.Fatalf("second prune: %d %s", code, out)
	}
	if code, out, errs := runCLI(t, "ledger", "verify", "--dir", dir, "--pubkey", filepath.Join(dir, "ledger", "ledger.vkey")); code != 0 {
		t.Fatalf("verify after prune: %d\n%s\n%s", code, out, errs)
	}
	entries, err := ledger.ReadEntries(dir)
	if err != nil {
		t.Fatal(err)
	}
	if last := entries[len(entries)-1]; last.Kind != ledger.KindRetentionPrune {
		t.Fatalf("the last entry is %s, want the prune", last.Kind)
	}
}
