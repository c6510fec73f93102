package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"templated/internal/ledger"
)

// runCLI runs templated with args and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cmdEnv{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(string) string { return "" }}
	code := run(context.Background(), env, args)
	return code, out.String(), errb.String()
}

func TestLedgerCommands(t *testing.T) {
	base := t.TempDir()
	dir, key := filepath.Join(base, "evidence"), filepath.Join(base, "etc", "ledger.key")
	vkeyFile := filepath.Join(dir, "ledger", "ledger.vkey")

	if code, _, errs := runCLI(t, "ledger", "init", "--dir", dir, "--key", filepath.Join(dir, "k")); code != 2 || !strings.Contains(errs, "outside the evidence tree") {
		t.Fatalf("init with a key inside the tree: %d %s", code, errs)
	}
	code, out, errs := runCLI(t, "ledger", "init", "--dir", dir, "--key", key, "--name", "templated.test/ledger")
	if code != 0 || !strings.Contains(out, "templated.test/ledger+") {
		t.Fatalf("init: %d %s %s", code, out, errs)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if code, _, _ := runCLI(t, "ledger", "init", "--dir", dir, "--key", key); code == 0 {
		t.Fatal("init overwrote an existing key")
	}

	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Options{Dir: dir, KeyFile: key})
	if err != nil {
		t.Fatal(err)
	}
	desired := &ledger.Desired{SHA256: strings.Repeat("ab", 32)}
	for _, e := range []ledger.Entry{
		{Kind: ledger.KindDecision, Desired: desired, Reason: &ledger.Reason{Code: "up-to-date"}},
		{Kind: ledger.KindBuildStarted, Template: "tpl-rocky-9", BuildID: "b1"},
		{Kind: ledger.KindStep, Template: "tpl-rocky-9", BuildID: "b1", Step: "swap", Result: "success"},
	} {
		if _, err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()

	if code, out, _ := runCLI(t, "ledger", "verify", "--dir", dir, "--pubkey", vkeyFile); code != 0 || !strings.Contains(out, "status: intact") {
		t.Fatalf("verify: %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "ledger", "show", "--dir", dir, "tpl-rocky-9")
	if code != 0 || !strings.Contains(out, "build.started") || !strings.Contains(out, "step swap") || strings.Contains(out, "decision") {
		t.Fatalf("show: %d\n%s", code, out)
	}

	code, proof, _ := runCLI(t, "ledger", "proof", "--dir", dir, "1")
	if code != 0 || !strings.HasPrefix(proof, "c2sp.org/tlog-proof@v1\n") {
		t.Fatalf("proof: %d %s", code, proof)
	}
	pf := filepath.Join(base, "1.tlog-proof")
	if err := os.WriteFile(pf, []byte(proof), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runCLI(t, "ledger", "check-proof", "--pubkey", vkeyFile, pf); code != 0 || !strings.Contains(out, "OK: entry 1") {
		t.Fatalf("check-proof: %d %s %s", code, out, errs)
	}
	otherEntry := filepath.Join(base, "other.json")
	if err := os.WriteFile(otherEntry, []byte(`{"forged":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, "ledger", "check-proof", "--pubkey", vkeyFile, "--entry", otherEntry, pf); code != 1 || !strings.Contains(errs, "not included") {
		t.Fatalf("check-proof of another entry: %d %s", code, errs)
	}

	// A torn tail is crash damage: exit 2, then repair, then intact.
	entries := filepath.Join(dir, "ledger", "entries.jsonl")
	raw, _ := os.ReadFile(entries)
	if err := os.WriteFile(entries, append(raw, `{"v":1,"seq":3,"ts"`...), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "ledger", "verify", "--dir", dir, "--pubkey", vkeyFile, "--json")
	var rep struct {
		Status   string
		Findings []ledger.Finding
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 2 || rep.Status != "repairable" {
		t.Fatalf("verify torn tail: %d %v\n%s", code, err, out)
	}
	if code, out, _ := runCLI(t, "ledger", "repair", "--dir", dir, "--key", key); code != 0 || !strings.Contains(out, "quarantined 19 bytes") {
		t.Fatalf("repair: %d\n%s", code, out)
	}
	if code, out, _ := runCLI(t, "ledger", "verify", "--dir", dir, "--pubkey", vkeyFile); code != 0 {
		t.Fatalf("verify after repair: %d\n%s", code, out)
	}

	// Tampering: exit 1, and repair refuses.
	raw, _ = os.ReadFile(entries)
	if err := os.WriteFile(entries, bytes.Replace(raw, []byte(`"up-to-date"`), []byte(`"inputs-new"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runCLI(t, "ledger", "verify", "--dir", dir, "--pubkey", vkeyFile); code != 1 || !strings.Contains(out, "status: tampered") {
		t.Fatalf("verify tampered: %d\n%s", code, out)
	}
	if code, _, errs := runCLI(t, "ledger", "repair", "--dir", dir, "--key", key); code != 1 || !strings.Contains(errs, "tampering") {
		t.Fatalf("repair of a tampered ledger: %d %s", code, errs)
	}
	if code, _, _ := runCLI(t, "ledger", "verify", "--dir", filepath.Join(base, "none")); code != 3 {
		t.Fatalf("verify without a ledger: %d, want 3", code)
	}
}
