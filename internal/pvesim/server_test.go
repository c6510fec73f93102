package pvesim

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8006", "[::]:0", "example.com:8006"} {
		_, err := Start(Options{Listen: addr, NoTLS: true})
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("Listen %q: %v, want a loopback refusal", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		srv, err := Start(Options{Listen: addr, NoTLS: true})
		if err != nil {
			if addr == "[::1]:0" {
				continue // no IPv6 loopback here
			}
			t.Fatalf("Listen %q: %v", addr, err)
		}
		srv.Close()
	}
}

func TestTLSWithGeneratedCA(t *testing.T) {
	srv := startSim(t, Options{})
	if !strings.HasPrefix(srv.URL(), "https://127.0.0.1:") || !strings.HasSuffix(srv.URL(), "/api2/json") {
		t.Fatalf("URL %q", srv.URL())
	}
	pemFile, err := os.ReadFile(srv.CAFile())
	if err != nil || string(pemFile) != string(srv.CACertPEM()) {
		t.Fatalf("CA file %s: %v", srv.CAFile(), err)
	}
	// Without the CA the certificate is not trusted.
	req, _ := http.NewRequest("GET", srv.URL()+"/version", nil)
	req.Header.Set("Authorization", srv.AuthHeader())
	plain := &http.Client{Transport: &http.Transport{}}
	if resp, err := plain.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("TLS verification passed without the CA")
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("want a certificate error, got %v", err)
	}
	// With it, HTTP/1.1 and custom reason phrases work over TLS.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemFile)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	r := call(t, srv, hc, "GET", "/nodes/pve1/qemu/4242/config", nil)
	if r.Status != 500 || !strings.HasSuffix(r.Reason, "4242.conf' does not exist") {
		t.Fatalf("error over TLS: %d %q", r.Status, r.Reason)
	}
	mustOK(t, srv, hc, "GET", "/version", nil)
	// The library with a CA pool, as templated builds it.
	if _, err := pxClient(t, srv).GetVersion(testCtx(t)); err != nil {
		t.Fatalf("library over TLS: %v", err)
	}
	caFile := srv.CAFile()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(caFile); !os.IsNotExist(err) {
		t.Fatalf("temporary CA file left after Close: %v", err)
	}
}

func TestCAFileOptionAndNoTLS(t *testing.T) {
	dir := t.TempDir()
	srv := startSim(t, Options{CAFile: filepath.Join(dir, "ca.pem")})
	if srv.CAFile() != filepath.Join(dir, "ca.pem") {
		t.Fatalf("CAFile %q", srv.CAFile())
	}
	plain := startSim(t, Options{NoTLS: true})
	if !strings.HasPrefix(plain.URL(), "http://") || plain.CAFile() != "" || plain.CACertPEM() != nil {
		t.Fatalf("NoTLS: %q %q", plain.URL(), plain.CAFile())
	}
	mustOK(t, plain, httpClient(t, plain), "GET", "/version", nil)
	env := plain.DotEnv()
	for _, want := range []string{"PROXMOX_URL=" + plain.URL() + "\n", "PROXMOX_TOKEN_ID=root@pam!templated\n",
		"PROXMOX_NODE=pve1\n", "PROXMOX_STORAGE=local-lvm\n", "PROXMOX_ISO_STORAGE=local\n", "PROXMOX_CA_FILE=\n"} {
		if !strings.Contains(env, want) {
			t.Errorf(".env lacks %q:\n%s", want, env)
		}
	}
}

func TestStatePersistsAcrossRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	tokens := map[string]string{"root@pam!templated": "secret-1"}
	srv, err := Start(Options{NoTLS: true, StatePath: state, Tokens: tokens, TaskDuration: -1})
	if err != nil {
		t.Fatal(err)
	}
	hc := httpClient(t, srv)
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/clone", url.Values{"newid": {"9000"}, "name": {"tpl-ubuntu-22.04"}, "full": {"1"}}).(string)
	waitTask(t, srv, hc, upid)
	waitTask(t, srv, hc, mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/9000/template", nil).(string))
	mustOK(t, srv, hc, "PUT", "/nodes/pve1/qemu/9000/config", url.Values{"tags": {"golden"}, "description": {"spec-sha=1"}})
	if err := srv.Cluster().RemoveGuest(201); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(state)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", info, err)
	}
	if b, _ := os.ReadFile(state); strings.Contains(string(b), "secret-1") {
		t.Fatal("state file contains the token secret")
	}
	entries, _ := os.ReadDir(filepath.Dir(state))
	if len(entries) != 1 {
		t.Fatalf("temporary files left next to the state: %v", entries)
	}
	srv2 := startSim(t, Options{NoTLS: true, StatePath: state, Tokens: tokens})
	g, ok := srv2.Cluster().Guest(9000)
	if !ok || !g.Template || g.Tags != "golden" || g.Description != "spec-sha=1" || g.Name != "tpl-ubuntu-22.04" ||
		g.Config["scsi0"] != "local-lvm:base-9000-disk-0,iothread=1,size=3584M" {
		t.Fatalf("after restart: %+v", g)
	}
	if _, ok := srv2.Cluster().Guest(201); ok {
		t.Fatal("removed guest came back")
	}
	if g, _ := srv2.Cluster().Guest(100); g.Status != "running" {
		t.Fatal("running state not kept")
	}
}

func TestSeedLoading(t *testing.T) {
	seed := DefaultSeed()
	if len(seed.ISOs) != 6 || len(seed.Guests) != 8 {
		t.Fatalf("default seed: %d ISOs %d guests", len(seed.ISOs), len(seed.Guests))
	}
	for _, g := range seed.Guests {
		if g.VMID >= 9000 && g.VMID <= 9199 {
			t.Fatalf("default seed has %d in the template range", g.VMID)
		}
	}
	path := filepath.Join(t.TempDir(), "seed.yaml")
	yaml := `
version: 8.3.2
nodes: [{name: pve}]
storages:
  - {name: local, type: dir, content: [iso, images]}
isos: [{storage: local, file: a.iso, size: 10}]
guests:
  - vmid: 9100
    name: tpl-win2022
    template: true
    tags: "Golden, Windows"
    description: "managed-by=templated"
    config: {cores: 4, memory: "8192", scsi0: "local:9100/base-9100-disk-0.raw,size=60G"}
faults:
  - {method: POST, path: /nodes/*/qemu/*/clone, status: 500, message: no}
`
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSeed(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := startSim(t, Options{Seed: s, NoTLS: true})
	hc := httpClient(t, srv)
	g, _ := srv.Cluster().Guest(9100)
	if g.Node != "pve" || g.Tags != "golden;windows" || !g.Template || g.Config["cores"] != "4" {
		t.Fatalf("seeded guest %+v", g)
	}
	if v := mustOK(t, srv, hc, "GET", "/version", nil).(map[string]any); v["version"] != "8.3.2" {
		t.Fatalf("version %v", v)
	}
	if r := call(t, srv, hc, "POST", "/nodes/pve/qemu/9100/clone", url.Values{"newid": {"300"}}); r.Status != 500 || r.Reason != "no" {
		t.Fatalf("seeded fault: %d %q", r.Status, r.Reason)
	}
	vols := mustOK(t, srv, hc, "GET", "/nodes/pve/storage/local/content", nil).([]any)
	if len(vols) != 2 {
		t.Fatalf("content %v", vols)
	}
	for _, bad := range []string{"nodes: []", "nodes: [{name: a}]\nbogus: 1", "nodes: [{name: a}]\nguests: [{vmid: 5}]",
		"nodes: [{name: a}]\nguests: [{vmid: 100}, {vmid: 100}]"} {
		if _, err := ParseSeed([]byte(bad)); err == nil {
			t.Errorf("ParseSeed(%q): want error", bad)
		}
	}
}
