package proxmox_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"templated/internal/proxmox"
)

// TestMalformedURLNotQuoted: a PROXMOX_URL that is wrong, with a secret in
// it, is refused with what is wrong and none of its text beyond the scheme
// and host.
func TestMalformedURLNotQuoted(t *testing.T) {
	const secret = "SECRET-0b7c9c9e"
	for _, tc := range []struct{ url, want string }{
		{"https://user@realm!tok:" + secret + "@host:8006x", "must not contain credentials"},
		{"https://root@pam!ci:" + secret + "@pve:8006", "must not contain credentials"},
		{"https://pve:8006/%zz" + secret, "malformed %-escape"},
		{"https://pve:80" + secret, "port is not a number"},
		{"ftp://pve/" + secret, "must start with https://, not ftp://"},
		{"https://", "has no host"},
		{"https:///" + secret, "has no host"},
		{"https:" + secret, "has no host"},
		{secret + ":8006", "must start with https://"},
		{"pve.example.com/" + secret, "must start with https://"},
		{"https://pve:99999/" + secret, "port outside 1-65535"},
		{"https://pve:8006/?" + secret, "must not contain a query or a fragment"},
		{"https://pve:8006/#" + secret, "must not contain a query or a fragment"},
		{"https://[::1" + secret + "/", "IPv6 host is malformed"},
		{"https://pve:8006/\x7f" + secret, "control character"},
	} {
		_, err := proxmox.NormalizeURL(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NormalizeURL(%q) = %v, want %q", tc.url, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("NormalizeURL(%q) quotes the secret: %v", tc.url, err)
		}
		p := writeEnv(t, 0o600, "PROXMOX_URL="+tc.url+"\nPROXMOX_TOKEN_ID=root@pam!ci\nPROXMOX_TOKEN_SECRET="+testSecret+"\n")
		_, err = proxmox.LoadConfig(p, noEnv)
		if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), p+":1: PROXMOX_URL: ") {
			t.Errorf("LoadConfig with %q: %v", tc.url, err)
		}
	}
}

// TestTokenIDSyntax: token ids are checked against PVE's formats, and a
// bad one is never quoted.
func TestTokenIDSyntax(t *testing.T) {
	for _, id := range []string{
		"root@pam!ci", "templated@pve!reconcile", "a!b@pve!tok", "first.last@corp.example@ad!build_1", "svc-x@my-realm.1!t.2-3",
	} {
		if _, err := proxmox.LoadConfig("", envMap(map[string]string{
			"PROXMOX_URL": "https://pve:8006", "PROXMOX_TOKEN_ID": id, "PROXMOX_TOKEN_SECRET": testSecret,
		})); err != nil {
			t.Errorf("%s refused: %v", id, err)
		}
	}
	for _, tc := range []struct{ id, want string }{
		{"root@pam!ci:" + testSecret, "contains ':', '=' or a blank"},
		{"root@pam:" + testSecret, "contains ':', '=' or a blank"},
		{"root@pam!ci=" + testSecret, "contains ':', '=' or a blank"},
		{testSecret, "has no !TOKENID"},
		{"root!" + testSecret, "has no @REALM"},
		{"root@pam!x", "token name"},
		{"root@pam!1ci", "token name"},
		{"root@p!ci", "realm"},
		{"root@1pam!ci", "realm"},
		{"ro/ot@pam!ci", "user name"},
		{"@pam!ci", "user name"},
		{strings.Repeat("u", 61) + "@pam!ci", "longer than 64"},
		{"ro\x00ot@pam!ci", "not printable"},
	} {
		_, err := proxmox.LoadConfig("", envMap(map[string]string{
			"PROXMOX_URL": "https://pve:8006", "PROXMOX_TOKEN_ID": tc.id, "PROXMOX_TOKEN_SECRET": testSecret,
		}))
		if err == nil || !strings.Contains(err.Error(), "not of the form USER@REALM!TOKENID") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.id, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), tc.id) || strings.Contains(err.Error(), testSecret) {
			t.Errorf("%q quoted: %v", tc.id, err)
		}
	}
}

// TestShortSecretRefused: a secret shorter than PVE's UUIDs is refused by
// name, without being shown.
func TestShortSecretRefused(t *testing.T) {
	for _, secret := range []string{"x", "s3cr3t", testSecret[:proxmox.MinSecretLen-1]} {
		_, err := proxmox.LoadConfig("", envMap(map[string]string{
			"PROXMOX_URL": "https://pve:8006", "PROXMOX_TOKEN_ID": "root@pam!ci", "PROXMOX_TOKEN_SECRET": secret,
		}))
		if err == nil || !strings.Contains(err.Error(), "PROXMOX_TOKEN_SECRET is shorter than a Proxmox token secret") {
			t.Errorf("%d characters: %v", len(secret), err)
			continue
		}
		if strings.Contains(err.Error(), secret) && len(secret) > 1 {
			t.Errorf("secret shown: %v", err)
		}
	}
	if _, err := proxmox.LoadConfig("", envMap(map[string]string{
		"PROXMOX_URL": "https://pve:8006", "PROXMOX_TOKEN_ID": "root@pam!ci", "PROXMOX_TOKEN_SECRET": testSecret[:proxmox.MinSecretLen],
	})); err != nil {
		t.Errorf("%d characters refused: %v", proxmox.MinSecretLen, err)
	}
}

// TestEnvFileWithTLSSettingsMustBePrivate: an env file that decides
// whom the secret is sent to gets the same mode check as one holding it.
func TestEnvFileWithTLSSettingsMustBePrivate(t *testing.T) {
	env := envMap(map[string]string{"PROXMOX_TOKEN_SECRET": testSecret})
	for _, line := range []string{"PROXMOX_INSECURE_SKIP_TLS_VERIFY=true", "PROXMOX_CA_FILE=/etc/templated/ca.pem"} {
		key, _, _ := strings.Cut(line, "=")
		for _, mode := range []os.FileMode{0o644, 0o640, 0o660} {
			p := writeEnv(t, mode, "PROXMOX_URL=https://pve:8006\nPROXMOX_TOKEN_ID=root@pam!ci\n"+line+"\n")
			_, err := proxmox.LoadConfig(p, env)
			if !errors.Is(err, proxmox.ErrInsecureEnvFile) || !strings.Contains(err.Error(), "sets "+key) || !strings.Contains(err.Error(), "chmod 600 "+p) {
				t.Errorf("%s, mode %o: %v", key, mode, err)
			}
		}
	}
	p := writeEnv(t, 0o600, "PROXMOX_URL=https://pve:8006\nPROXMOX_TOKEN_ID=root@pam!ci\nPROXMOX_INSECURE_SKIP_TLS_VERIFY=true\n")
	if cfg, err := proxmox.LoadConfig(p, env); err != nil || !cfg.InsecureSkipTLSVerify {
		t.Errorf("mode 600: %v", err)
	}
}

// TestInsecureValueNotQuoted: a long PROXMOX_INSECURE_SKIP_TLS_VERIFY
// value (a secret pasted on the wrong line) is described, not shown.
func TestInsecureValueNotQuoted(t *testing.T) {
	_, err := proxmox.LoadConfig("", envMap(map[string]string{
		"PROXMOX_URL": "https://pve:8006", "PROXMOX_TOKEN_ID": "root@pam!ci", "PROXMOX_TOKEN_SECRET": testSecret,
		"PROXMOX_INSECURE_SKIP_TLS_VERIFY": testSecret,
	}))
	if err == nil || !strings.Contains(err.Error(), "PROXMOX_INSECURE_SKIP_TLS_VERIFY=<43 characters>: want true or false") || strings.Contains(err.Error(), testSecret) {
		t.Errorf("err = %v", err)
	}
}

// TestEnvFileMustBeRegular: a FIFO as env file or credential is refused at
// once instead of blocking.
func TestEnvFileMustBeRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, proxmox.CredentialTokenSecret)
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	env := envMap(map[string]string{"PROXMOX_URL": "https://pve:8006", "PROXMOX_TOKEN_ID": "root@pam!ci", "CREDENTIALS_DIRECTORY": dir})
	for name, load := range map[string]func() error{
		"env file":   func() error { _, err := proxmox.LoadConfig(fifo, env); return err },
		"credential": func() error { _, err := proxmox.LoadConfig("", env); return err },
		"directory":  func() error { _, err := proxmox.LoadConfig(dir, env); return err },
	} {
		done := make(chan error, 1)
		go func() { done <- load() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "is not a regular file") {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
				w.Close()
			}
			t.Fatalf("%s: LoadConfig blocked on a FIFO", name)
		}
	}
}
