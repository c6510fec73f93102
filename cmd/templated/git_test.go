package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGitSettingsErrorsNameTheirSource: a bad TEMPLATED_GIT_* value in the
// env file is refused naming the file and line; from the environment, the
// variable; a flag, the flag.
func TestGitSettingsErrorsNameTheirSource(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "templated.env")
	body := "# git\nTEMPLATED_GIT_URL=https://git.example/org/t.git\nTEMPLATED_GIT_INTERVAL=soon\nTEMPLATED_GIT_VERIFY=gpg\n"
	if err := os.WriteFile(envFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	resolve := func(env map[string]string, g gitFlags) error {
		c := &common{env: &cmdEnv{Getenv: func(k string) string { return env[k] }}, envFile: envFile, stateDir: dir}
		_, _, err := g.resolve(c)
		return err
	}
	err := resolve(nil, gitFlags{})
	if err == nil || !strings.Contains(err.Error(), envFile+":3: TEMPLATED_GIT_INTERVAL") {
		t.Errorf("interval from the env file: %v", err)
	}
	err = resolve(map[string]string{"TEMPLATED_GIT_INTERVAL": "5m"}, gitFlags{})
	if err == nil || !strings.Contains(err.Error(), envFile+":4: TEMPLATED_GIT_VERIFY \"gpg\"") {
		t.Errorf("verify from the env file: %v", err)
	}
	err = resolve(map[string]string{"TEMPLATED_GIT_INTERVAL": "5m", "TEMPLATED_GIT_VERIFY": "x509"}, gitFlags{})
	if err == nil || !strings.Contains(err.Error(), "TEMPLATED_GIT_VERIFY \"x509\"") || strings.Contains(err.Error(), envFile) {
		t.Errorf("verify from the environment: %v", err)
	}
	err = resolve(nil, gitFlags{interval: 1, verify: "pgp"})
	if err == nil || !strings.Contains(err.Error(), "-git-verify \"pgp\"") {
		t.Errorf("verify from the flag: %v", err)
	}
}
