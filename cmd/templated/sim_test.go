package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is an io.Writer safe to read while runSim writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startSimCommand runs "templated sim args..." until the test ends and
// returns its parsed .env block once it is printed.
func startSimCommand(t *testing.T, args ...string) (map[string]string, *lockedBuffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	env := &cmdEnv{Stdout: out, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	done := make(chan error, 1)
	go func() { done <- runSim(ctx, env, args) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("sim did not stop after cancel")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if vars := parseDotEnv(out.String()); vars["PROXMOX_CA_FILE"] != "" || strings.Contains(out.String(), "PROXMOX_CA_FILE=\n") {
			return vars, out, stop
		}
		select {
		case err := <-done:
			t.Fatalf("sim exited early: %v\n%s", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("sim printed no .env block:\n%s", out.String())
	return nil, nil, nil
}

func parseDotEnv(s string) map[string]string {
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.HasPrefix(k, "PROXMOX_") {
			vars[k] = v
		}
	}
	return vars
}

func TestSimCommand(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "sim.env")
	vars, out, stop := startSimCommand(t, "--listen", "127.0.0.1:0", "--env-file", envFile, "--task-duration", "0")
	for _, k := range []string{"PROXMOX_URL", "PROXMOX_TOKEN_ID", "PROXMOX_TOKEN_SECRET", "PROXMOX_NODE",
		"PROXMOX_STORAGE", "PROXMOX_ISO_STORAGE", "PROXMOX_CA_FILE"} {
		if vars[k] == "" {
			t.Fatalf("%s missing from output:\n%s", k, out.String())
		}
	}
	if !strings.HasPrefix(vars["PROXMOX_URL"], "https://127.0.0.1:") || vars["PROXMOX_NODE"] != "pve1" {
		t.Fatalf("URL %q node %q", vars["PROXMOX_URL"], vars["PROXMOX_NODE"])
	}
	pem, err := os.ReadFile(vars["PROXMOX_CA_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("CA file is not PEM")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	get := func(auth string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", vars["PROXMOX_URL"]+"/cluster/resources?type=vm", nil)
		req.Header.Set("Authorization", auth)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get("PVEAPIToken=" + vars["PROXMOX_TOKEN_ID"] + "=" + vars["PROXMOX_TOKEN_SECRET"])
	var env struct {
		Data []map[string]any `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &env) != nil || len(env.Data) == 0 {
		t.Fatalf("resources: %s %s", resp.Status, body)
	}
	if _, ok := env.Data[0]["vmid"].(float64); !ok {
		t.Fatalf("vmid is not a number: %v", env.Data[0])
	}
	resp, body = get("PVEAPIToken=" + vars["PROXMOX_TOKEN_ID"] + "=wrong")
	if resp.Status != "401 Authentication failed!" || len(body) != 0 {
		t.Fatalf("wrong token: %q %q", resp.Status, body)
	}
	info, err := os.Stat(envFile)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("env file: %v %v", info, err)
	}
	if b, _ := os.ReadFile(envFile); parseDotEnv(string(b))["PROXMOX_TOKEN_SECRET"] != vars["PROXMOX_TOKEN_SECRET"] {
		t.Fatalf("env file content:\n%s", b)
	}
	if err := stop(); err != nil {
		t.Fatalf("sim returned %v after cancel", err)
	}
}

func TestSimCommandOptions(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("# CI's token\nci@pve!bot=fixed-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars, _, stop := startSimCommand(t, "--listen", "127.0.0.1:0", "--no-tls",
		"--token-file", tokens, "--fault", `GET /version status=500 message="broken on purpose"`)
	if vars["PROXMOX_TOKEN_ID"] != "ci@pve!bot" || vars["PROXMOX_TOKEN_SECRET"] != "fixed-secret" ||
		!strings.HasPrefix(vars["PROXMOX_URL"], "http://") {
		t.Fatalf("vars %v", vars)
	}
	req, _ := http.NewRequest("GET", vars["PROXMOX_URL"]+"/version", nil)
	req.Header.Set("Authorization", "PVEAPIToken=ci@pve!bot=fixed-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Status != "500 broken on purpose" {
		t.Fatalf("fault from --fault: %q", resp.Status)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestSimCommandRejects(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(bad, []byte("nosecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := &cmdEnv{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	for _, args := range [][]string{
		{"--listen", "0.0.0.0:0"},
		{"--token-file", bad},
		{"--token-file", filepath.Join(t.TempDir(), "missing")},
		{"--fault", "bogus=1"},
		{"extra"},
	} {
		if err := runSim(context.Background(), env, args); err == nil {
			t.Errorf("sim %v: want error", args)
		}
	}
}
