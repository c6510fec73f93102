package proxmox_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"templated/internal/proxmox"
)

const testSecret = "5ecrE7-0b7c9c9e-1111-2222-3333-444455556666"

// uuidTail makes a test secret as long as a real one (MinSecretLen).
const uuidTail = "-0b7c9c9e-1111-2222-3333-444455556666"

func writeEnv(t *testing.T, mode os.FileMode, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "proxmox.env")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask may have masked bits
		t.Fatal(err)
	}
	return p
}

func noEnv(string) string { return "" }

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigFromFile(t *testing.T) {
	p := writeEnv(t, 0o600, `# comment
PROXMOX_URL=https://pve1.example.com:8006/
export PROXMOX_TOKEN_ID="templated@pve!reconcile"
PROXMOX_TOKEN_SECRET='`+testSecret+`'

PROXMOX_NODE=pve1   # trailing comment
PROXMOX_STORAGE="local-lvm"
PROXMOX_ISO_STORAGE=local
PROXMOX_INSECURE_SKIP_TLS_VERIFY=false
OTHER_TOOL_SETTING=ignored
`)
	cfg, err := proxmox.LoadConfig(p, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := proxmox.Config{
		URL: "https://pve1.example.com:8006/api2/json", TokenID: "templated@pve!reconcile",
		TokenSecret: testSecret, Node: "pve1", Storage: "local-lvm", ISOStorage: "local",
	}
	if cfg != want {
		t.Fatalf("got %s\nwant %s", cfg, want)
	}
	if cfg.TokenSecret.Reveal() != testSecret {
		t.Fatalf("secret not read")
	}
}

func TestLoadConfigEnvironmentOverridesFile(t *testing.T) {
	p := writeEnv(t, 0o600, "PROXMOX_URL=https://a:8006\nPROXMOX_TOKEN_ID=root@pam!ci\nPROXMOX_TOKEN_SECRET=file-secret"+uuidTail+"\nPROXMOX_NODE=a\n")
	cfg, err := proxmox.LoadConfig(p, envMap(map[string]string{
		"PROXMOX_URL": "https://b:8006/api2/json", "PROXMOX_TOKEN_SECRET": "env-secret" + uuidTail,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.URL != "https://b:8006/api2/json" || cfg.TokenSecret.Reveal() != "env-secret"+uuidTail || cfg.Node != "a" || cfg.TokenID != "root@pam!ci" {
		t.Fatalf("precedence wrong: %s / %q", cfg, cfg.TokenSecret.Reveal())
	}
}

func TestLoadConfigEnvironmentOnly(t *testing.T) {
	cfg, err := proxmox.LoadConfig("", envMap(map[string]string{
		"PROXMOX_URL": "http://127.0.0.1:8006", "PROXMOX_TOKEN_ID": "root@pam!ci", "PROXMOX_TOKEN_SECRET": testSecret,
		"PROXMOX_INSECURE_SKIP_TLS_VERIFY": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.InsecureSkipTLSVerify || cfg.URL != "http://127.0.0.1:8006/api2/json" {
		t.Fatalf("got %s", cfg)
	}
}

func TestLoadConfigRefusesReadableFileWithSecret(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644} {
		p := writeEnv(t, mode, "PROXMOX_URL=https://a:8006\nPROXMOX_TOKEN_ID=root@pam!ci\nPROXMOX_TOKEN_SECRET="+testSecret+"\n")
		_, err := proxmox.LoadConfig(p, noEnv)
		if !errors.Is(err, proxmox.ErrInsecureEnvFile) {
			t.Fatalf("mode %o: err = %v, want ErrInsecureEnvFile", mode, err)
		}
		if !strings.Contains(err.Error(), "chmod 600 "+p) || strings.Contains(err.Error(), testSecret) {
			t.Fatalf("mode %o: message %q must say chmod 600 FILE and hide the secret", mode, err)
		}
	}
}

// A bad value from the env file is reported with the file and line; the
// same value from the environment names the variable only.
func TestLoadConfigValueErrorsNameFileAndLine(t *testing.T) {
	p := writeEnv(t, 0o600, "# templated\nPROXMOX_TOKEN_ID=root@pam!ci\nPROXMOX_URL=pve:8006\nPROXMOX_TOKEN_SECRET="+testSecret+"\nPROXMOX_INSECURE_SKIP_TLS_VERIFY=maybe\n")
	_, err := proxmox.LoadConfig(p, noEnv)
	if err == nil || !strings.Contains(err.Error(), p+":3: PROXMOX_URL: ") {
		t.Fatalf("err = %v, want %s:3: PROXMOX_URL", err, p)
	}
	_, err = proxmox.LoadConfig(p, envMap(map[string]string{"PROXMOX_URL": "https://pve:8006"}))
	if err == nil || !strings.Contains(err.Error(), p+":5: PROXMOX_INSECURE_SKIP_TLS_VERIFY=") {
		t.Fatalf("err = %v, want %s:5: PROXMOX_INSECURE_SKIP_TLS_VERIFY", err, p)
	}
	_, err = proxmox.LoadConfig(p, envMap(map[string]string{"PROXMOX_URL": "pve:1"}))
	if err == nil || strings.Contains(err.Error(), p+":") || !strings.Contains(err.Error(), "PROXMOX_URL: ") {
		t.Fatalf("a value from the environment was blamed on the file: %v", err)
	}
}

func TestLoadConfigAcceptsReadableFileWithoutSecret(t *testing.T) {
	p := writeEnv(t, 0o644, "PROXMOX_URL=https://a:8006\nPROXMOX_TOKEN_ID=root@pam!ci\n")
	cfg, err := proxmox.LoadConfig(p, envMap(map[string]string{"PROXMOX_TOKEN_SECRET": "from-env" + uuidTail}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TokenSecret.Reveal() != "from-env"+uuidTail {
		t.Fatal("secret from environment lost")
	}
}

func TestLoadConfigErrorsNameFileAndLine(t *testing.T) {
	cases := []struct{ name, content, want string }{
		{"no equals", "PROXMOX_URL=https://a\n\nPROXMOX_NODE\n", ":3: expected KEY=VALUE"},
		{"unknown key", "# x\nPROXMOX_TOKEN_SECRT=" + testSecret + "\n", ":2: unknown key PROXMOX_TOKEN_SECRT"},
		{"unterminated quote", "PROXMOX_TOKEN_SECRET=\"" + testSecret + "\n", ":1: PROXMOX_TOKEN_SECRET: unterminated double quote"},
		{"duplicate", "PROXMOX_NODE=a\nPROXMOX_NODE=b\n", ":2: PROXMOX_NODE set twice"},
		{"bad key", "1X=2\n", ":1: expected KEY=VALUE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeEnv(t, 0o600, tc.content)
			_, err := proxmox.LoadConfig(p, noEnv)
			if err == nil || !strings.Contains(err.Error(), p+tc.want) {
				t.Fatalf("err = %v, want %q", err, p+tc.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error shows the secret: %v", err)
			}
		})
	}
}

func TestLoadConfigValidation(t *testing.T) {
	base := map[string]string{"PROXMOX_URL": "https://a:8006", "PROXMOX_TOKEN_ID": "root@pam!ci", "PROXMOX_TOKEN_SECRET": testSecret}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"missing", map[string]string{"PROXMOX_URL": "https://a"}, "PROXMOX_TOKEN_ID, PROXMOX_TOKEN_SECRET not set"},
		{"scheme", with("PROXMOX_URL", "pve:8006"), "must start with https://"},
		{"token id", with("PROXMOX_TOKEN_ID", "root@pam"), "not of the form USER@REALM!TOKENID"},
		{"token id with secret", with("PROXMOX_TOKEN_ID", "root@pam!ci="+testSecret), "not of the form"},
		{"token id with blank and secret", with("PROXMOX_TOKEN_ID", "root@pam!ci "+testSecret), "not of the form"},
		{"url with credentials", with("PROXMOX_URL", "https://root@pam!ci:"+testSecret+"@pve:8006"), "must not contain credentials"},
		{"insecure", with("PROXMOX_INSECURE_SKIP_TLS_VERIFY", "yes please"), "want true or false"},
		{"ca file", with("PROXMOX_CA_FILE", "/nonexistent/ca.pem"), "PROXMOX_CA_FILE: read CA file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := proxmox.LoadConfig("", envMap(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatal("secret in error")
			}
		})
	}
	bad := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(bad, []byte("not a cert"), 0o600)
	if _, err := proxmox.LoadConfig("", envMap(with("PROXMOX_CA_FILE", bad))); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("bad CA: %v", err)
	}
}

func TestNormalizeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://pve:8006":             "https://pve:8006/api2/json",
		"https://pve:8006/":            "https://pve:8006/api2/json",
		"https://pve:8006/api2/json":   "https://pve:8006/api2/json",
		"https://pve:8006/api2/json/":  "https://pve:8006/api2/json",
		" http://127.0.0.1:1/pve/ ":    "http://127.0.0.1:1/pve/api2/json",
		"https://[::1]:8006/api2/json": "https://[::1]:8006/api2/json",
	} {
		got, err := proxmox.NormalizeURL(in)
		if err != nil || got != want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "pve:8006", "ftp://pve", "https://", "https://u:p@pve:8006", "https://pve?x=1"} {
		if _, err := proxmox.NormalizeURL(in); err == nil {
			t.Errorf("NormalizeURL(%q) accepted", in)
		}
	}
}

func TestConfigNeverPrintsSecret(t *testing.T) {
	cfg := proxmox.Config{URL: "https://a/api2/json", TokenID: "root@pam!ci", TokenSecret: testSecret}
	j, _ := json.Marshal(cfg)
	outs := []string{
		cfg.String(), cfg.Redacted(), fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg),
		fmt.Sprintf("%v %+v %#v %s", cfg.TokenSecret, cfg.TokenSecret, cfg.TokenSecret, cfg.TokenSecret),
		fmt.Sprintf("%v", &cfg), string(j),
	}
	for _, o := range outs {
		if strings.Contains(o, testSecret) {
			t.Fatalf("secret printed: %s", o)
		}
	}
	if !strings.Contains(cfg.String(), "token_id=root@pam!ci") || !strings.Contains(cfg.String(), "[redacted]") {
		t.Fatalf("String() = %s", cfg)
	}
}

func TestLoadConfigReadsSystemdCredential(t *testing.T) {
	creds := t.TempDir()
	if err := os.WriteFile(filepath.Join(creds, proxmox.CredentialTokenSecret), []byte("cred-secret-1234"+uuidTail+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"PROXMOX_URL": "https://pve:8006", "PROXMOX_TOKEN_ID": "templated@pve!reconcile", "CREDENTIALS_DIRECTORY": creds,
	}
	cfg, err := proxmox.LoadConfig("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TokenSecret.Reveal() != "cred-secret-1234"+uuidTail {
		t.Fatalf("secret from credential = %q", cfg.TokenSecret.Reveal())
	}
	env["PROXMOX_TOKEN_SECRET"] = "env-wins-5678" + uuidTail
	cfg, err = proxmox.LoadConfig("", func(k string) string { return env[k] })
	if err != nil || cfg.TokenSecret.Reveal() != "env-wins-5678"+uuidTail {
		t.Fatalf("environment should win over the credential: %q %v", cfg.TokenSecret.Reveal(), err)
	}
}
