package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"templated/internal/ledger"
	"templated/internal/pvesim"
)

// TestSecretNeverEchoedE2E: a desired file that is a symlink to the file
// holding the token secret, and a malformed PROXMOX_URL carrying the
// secret, print the secret nowhere: stdout, stderr, the daemon's log,
// /status, /metrics, the ledger.
func TestSecretNeverEchoedE2E(t *testing.T) {
	e := newE2E(t, false, pvesim.Options{})
	e.initLedger()
	secret := e.sim.TokenSecret()
	envFile := filepath.Join(e.dir, ".env")
	desired := filepath.Join(e.repo, desiredRel)
	good, err := os.ReadFile(desired)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(desired); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(envFile, desired); err != nil {
		t.Fatal(err)
	}
	noSecret := func(where, text string) {
		t.Helper()
		if ledger.ContainsSecret([]byte(text), secret) {
			t.Errorf("the token secret is in %s:\n%s", where, text)
		}
	}

	r := e.run("validate")
	if r.code != 1 {
		t.Fatalf("validate of a symlink to the env file:\n%s", r)
	}
	noSecret("validate's output", r.stdout+r.stderr)

	p := startDaemonProc(t, e.repo, e.env)
	p.waitFor(30*time.Second, "the rejection in /status", func() bool { return p.status().Desired.Rejected != nil })
	for _, path := range []string{"/status", "/metrics", "/readyz"} {
		_, body := p.get(path)
		noSecret(path, body)
	}
	p.signal(syscall.SIGTERM)
	p.exitCode(time.Minute)
	log, err := os.ReadFile(p.log)
	if err != nil {
		t.Fatal(err)
	}
	noSecret("the daemon's log", string(log))
	if hits, err := ledger.FindSecret(e.evidenceDir(), secret); err != nil || len(hits) != 0 {
		t.Errorf("the token secret is in the ledger: %v (%v)", hits, err)
	}

	// A malformed URL with the secret in it, as a careless paste makes it.
	raw, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(raw), "PROXMOX_URL=https://", "PROXMOX_URL=https://user@pve!tok:"+secret+"@", 1)
	bad = strings.Replace(bad, "\nPROXMOX_TOKEN_ID", "8006x\nPROXMOX_TOKEN_ID", 1)
	if err := os.WriteFile(envFile, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(desired); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(desired, good, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"plan"}, {"daemon", "--listen", ""}} {
		r := e.run(args...)
		if r.code == 0 {
			t.Fatalf("%v with a malformed URL succeeded:\n%s", args, r)
		}
		noSecret(strings.Join(args, " ")+"'s output", r.stdout+r.stderr)
	}
}
