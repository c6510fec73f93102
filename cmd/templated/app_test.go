package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDotEnvInWorkingDirectoryIgnored: a .env someone left in the working
// directory is not read unless named.
func TestDotEnvInWorkingDirectoryIgnored(t *testing.T) {
	dir := t.TempDir()
	body := "PROXMOX_URL=https://127.0.0.1:1\nPROXMOX_TOKEN_ID=evil@pve!x\nPROXMOX_TOKEN_SECRET=0b7c9c9e-1111-2222-3333-444455556666\nPROXMOX_INSECURE_SKIP_TLS_VERIFY=true\n"
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	desired, err := filepath.Abs("../../desired/templates.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	code, _, errs := runCLI(t, "plan", "-f", desired, "-packer", "/bin/true")
	if code != 1 || !strings.Contains(errs, "PROXMOX_URL") || strings.Contains(errs, "127.0.0.1:1") {
		t.Fatalf("plan with only ./.env: exit %d, want the missing settings named:\n%s", code, errs)
	}
	code, _, errs = runCLI(t, "plan", "-f", desired, "-packer", "/bin/true", "--env-file", ".env")
	if strings.Contains(errs, "PROXMOX_URL is") {
		t.Fatalf("--env-file .env was not read (exit %d):\n%s", code, errs)
	}
}
