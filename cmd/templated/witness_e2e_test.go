package main

import (
	"strings"
	"testing"

	"templated/internal/pvesim"
)

// TestApplyWithWitnessDown: a configured witness that does not answer
// never blocks a build; apply finishes and says the checkpoint has no
// cosignature yet, and verify --witnesses 1 reports the ledger unwitnessed.
func TestApplyWithWitnessDown(t *testing.T) {
	e := newE2E(t, true, pvesim.Options{})
	e.keepTemplates(nil, "tpl-ubuntu-22.04")
	e.initLedger()
	if r := e.run("ledger", "witness", "add", "--dir", e.evidenceDir(), "w1", witnessKey(t, "witness.test/w1"), downURL(t)); r.code != 0 {
		t.Fatalf("witness add:\n%s", r)
	}
	r := e.apply(0)
	if !strings.Contains(r.stdout, "Apply: 1 succeeded, 0 failed") ||
		!strings.Contains(r.stdout, "Witness w1: no cosignature for the checkpoint of") {
		t.Fatalf("apply with the witness down:\n%s", r)
	}
	v := e.run("ledger", "verify", "--dir", e.evidenceDir(), "--witnesses", "1")
	if v.code != 4 || !strings.Contains(v.stdout, "unwitnessed") {
		t.Fatalf("verify --witnesses 1:\n%s", v)
	}
}
