package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/torchwood"
)

// witnessKey returns a witness's verifier key (no witness runs).
func witnessKey(t testing.TB, name string) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	return s.Verifier().String()
}

// downURL is a loopback URL nothing listens on.
func downURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestLedgerWitnessCommands(t *testing.T) {
	base := t.TempDir()
	dir, key := filepath.Join(base, "evidence"), filepath.Join(base, "etc", "ledger.key")
	if code, _, errs := runCLI(t, "ledger", "init", "--dir", dir, "--key", key); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	vkey, url := witnessKey(t, "witness.test/w1"), downURL(t)
	if code, out, errs := runCLI(t, "ledger", "witness", "add", "--dir", dir, "w1", vkey, url); code != 0 || !strings.Contains(out, "witness w1 added") {
		t.Fatalf("add: %d %s %s", code, out, errs)
	}
	if code, _, errs := runCLI(t, "ledger", "witness", "add", "--dir", dir, "w2", vkey, "https://user:pw@witness.example"); code == 0 || strings.Contains(errs, "pw@") {
		t.Fatalf("a witness URL with credentials: %d %s", code, errs)
	}
	if code, out, _ := runCLI(t, "ledger", "witness", "list", "--dir", dir); code != 0 || !strings.Contains(out, "w1") || !strings.Contains(out, url) {
		t.Fatalf("list: %d\n%s", code, out)
	}
	// Local verification passes; with a witness required and down, the
	// ledger is unwitnessed (exit 4), not intact.
	if code, out, _ := runCLI(t, "ledger", "verify", "--dir", dir); code != 0 {
		t.Fatalf("verify: %d\n%s", code, out)
	}
	code, out, errs := runCLI(t, "ledger", "verify", "--dir", dir, "--witnesses", "1")
	if code != 4 || !strings.Contains(out, "unwitnessed") {
		t.Fatalf("verify --witnesses 1 with the witness down: %d\n%s%s", code, out, errs)
	}
	if code, out, _ := runCLI(t, "ledger", "verify", "--dir", dir, "--witnesses", "1", "--witness-offline", "--json"); code != 4 || strings.Count(out, `"status"`) != 1 {
		t.Fatalf("verify --witness-offline --json: %d\n%s", code, out)
	}
	if code, _, _ := runCLI(t, "ledger", "witness", "remove", "--dir", dir, "w1"); code != 0 {
		t.Fatal("remove")
	}
	if code, out, _ := runCLI(t, "ledger", "witness", "list", "--dir", dir); code != 0 || strings.Contains(out, "w1") {
		t.Fatalf("list after remove: %d\n%s", code, out)
	}
}
