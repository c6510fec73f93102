package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"templated/internal/pvesim"
)

// stubPackerWithPlugin makes the e2e stub Packer also list plugin 1.2.4.
func stubPackerWithPlugin(t *testing.T, e *e2e) {
	t.Helper()
	stub := "#!/bin/sh\n" +
		"[ \"$1\" = version ] && { echo 'Packer v1.11.2'; exit 0; }\n" +
		"[ \"$1 $2\" = 'plugins installed' ] && { echo '/p/github.com/hashicorp/proxmox/packer-plugin-proxmox_v1.2.4_x5.0_linux_amd64'; exit 0; }\n" +
		"exit 1\n"
	if err := os.WriteFile(filepath.Join(e.packers, "packer"), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestDoctorExitCodes(t *testing.T) {
	e := newE2E(t, false, pvesim.Options{})
	stubPackerWithPlugin(t, e)
	if r := e.run("ledger", "init", "--dir", e.envValue("TEMPLATED_EVIDENCE_DIR"), "--key", e.envValue("TEMPLATED_LEDGER_KEY")); r.code != 0 {
		t.Fatalf("ledger init: %v", r)
	}
	r := e.run("doctor")
	if r.code != 0 || !strings.Contains(r.stdout, "✓ API token: ") || !strings.Contains(r.stdout, " 0 failed") {
		t.Fatalf("doctor on the default seed: %v", r)
	}

	// An ISO build whose ISO is gone, and a lost signing key: exit 1,
	// each failure with its fix.
	if err := os.Remove(e.envValue("TEMPLATED_LEDGER_KEY")); err != nil {
		t.Fatal(err)
	}
	r = e.run("doctor", "--json")
	if r.code != 1 {
		t.Fatalf("doctor without a key: %v", r)
	}
	var rep struct {
		OK      bool `json:"ok"`
		Summary struct{ Fail int }
		Checks  []struct{ ID, Status, Message, Fix string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, r.stdout)
	}
	if rep.OK || rep.Summary.Fail != 1 {
		t.Fatalf("doctor --json: ok %v, %d failed\n%s", rep.OK, rep.Summary.Fail, r.stdout)
	}
	for _, c := range rep.Checks {
		if c.Status == "fail" && (c.ID != "ledger.key" || c.Fix == "") {
			t.Errorf("unexpected failure %+v", c)
		}
	}
	r = e.run("doctor")
	if r.code != 1 || !strings.Contains(r.stdout, "✗ ledger signing key: no signing key at ") || !strings.Contains(r.stdout, "    fix: create it with `templated ledger init`") {
		t.Fatalf("doctor text without a key: %v", r)
	}
}
