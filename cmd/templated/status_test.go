package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"templated/internal/daemon"
	"templated/internal/pvesim"
	"templated/internal/session"
)

// runInProcess runs templated with args in this process (for commands
// that need no repository copy).
func runInProcess(t *testing.T, getenv map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cmdEnv{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return getenv[k] }}
	code := run(context.Background(), env, args)
	return out.String(), errb.String(), code
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestStatusFromDaemon(t *testing.T) {
	now := time.Now()
	st := daemon.Status{Version: daemon.StatusVersion, State: "idle", Message: "idle; next patch rebuild tpl-a at ...", Ready: true,
		Now: now, Desired: daemon.DesiredStatus{Path: "desired/templates.yaml", SHA256: "ab",
			Rejected: &daemon.Rejection{SHA256: "cd", Error: "f:1:1: first problem\nf:2:1: second"}},
		Templates: []daemon.TemplateStatus{
			{Name: "tpl-a", VMID: 9000, Release: "1.2.0", BuiltAt: now.Add(-26 * time.Hour), LastResult: "success",
				LastBuildAt: now.Add(-26 * time.Hour), NextRebuild: now.Add(49 * time.Hour), Drift: "none"},
			{Name: "tpl-b", VMID: 9001, Release: "1.0.0", LastResult: "failure", LastBuildAt: now.Add(-5 * time.Minute),
				Suspended: true, Drift: "missing"},
			{Name: "tpl-c", VMID: 9002, Release: "1.0.0", LastResult: "none", Drift: "stale", NextRebuild: now.Add(-time.Hour)},
		}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(st) //nolint:errcheck // test server
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	env := map[string]string{"TEMPLATED_EVIDENCE_DIR": t.TempDir()}

	out, errs, code := runInProcess(t, env, "status", "--listen", addr)
	if code != 0 {
		t.Fatalf("status exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"daemon on " + addr + ": idle; next patch rebuild",
		"desired file rejected: f:1:1: first problem\n",
		"TEMPLATE", "NEXT REBUILD",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	rows := map[string][]string{}
	for _, ln := range strings.Split(out, "\n") {
		if f := strings.Fields(ln); len(f) > 0 && strings.HasPrefix(f[0], "tpl-") {
			rows[f[0]] = f
		}
	}
	if r := strings.Join(rows["tpl-a"], " "); !strings.HasPrefix(r, "tpl-a 9000 1.2.0 1d2h success 1d2h ago ") ||
		!strings.HasSuffix(r, "(in 2d1h) none") {
		t.Errorf("tpl-a row = %q", r)
	}
	if r := strings.Join(rows["tpl-b"], " "); r != "tpl-b 9001 1.0.0 - failure 5m0s ago (suspended) - missing" {
		t.Errorf("tpl-b row = %q", r)
	}
	if r := strings.Join(rows["tpl-c"], " "); r != "tpl-c 9002 1.0.0 - none due now stale" {
		t.Errorf("tpl-c row = %q", r)
	}

	js, _, code := runInProcess(t, env, "status", "--listen", addr, "--json")
	var rep session.StatusReport
	if err := json.Unmarshal([]byte(js), &rep); err != nil || code != 0 {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, js)
	}
	if rep.Source != session.SourceDaemon || rep.Listen != addr || rep.State != "idle" || len(rep.Templates) != 3 || !rep.Templates[1].Suspended {
		t.Fatalf("--json = %+v", rep)
	}
}

// TestStatusE2E reads the status straight from Proxmox, with --direct and
// when no daemon answers.
func TestStatusE2E(t *testing.T) {
	e := newE2E(t, false, pvesim.Options{})
	d := e.desired()
	built := time.Now().Add(-50 * time.Hour)
	for _, tp := range d.Templates {
		if tp.Name != "tpl-win2022" {
			e.seedBuilt(d, tp, built, "")
		}
	}
	if err := e.sim.Cluster().SetConfig(9001, map[string]string{"memory": "4096"}); err != nil {
		t.Fatal(err)
	}
	r := e.run("status", "--direct", "--json")
	var rep session.StatusReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 0 || err != nil {
		t.Fatalf("status --direct --json: %v\n%s", err, r)
	}
	if rep.Source != session.SourceProxmox || rep.Listen != "" || len(rep.Templates) != 4 {
		t.Fatalf("report = %+v", rep)
	}
	byName := map[string]daemon.TemplateStatus{}
	for _, ts := range rep.Templates {
		byName[ts.Name] = ts
	}
	u22, u24, win := byName["tpl-ubuntu-22.04"], byName["tpl-ubuntu-24.04"], byName["tpl-win2022"]
	if u22.VMID != 9000 || u22.Release != "1.0.0" || u22.Drift != "none" || u22.BuiltAt.IsZero() || u22.AgeSeconds < 49*3600 {
		t.Errorf("tpl-ubuntu-22.04 = %+v", u22)
	}
	tpl, _ := d.Template("tpl-ubuntu-22.04")
	if want := daemon.NextRebuild(tpl, u22.BuiltAt, rep.Now); !u22.NextRebuild.Equal(want) || want.IsZero() {
		t.Errorf("next rebuild = %s, want %s", u22.NextRebuild, want)
	}
	if u24.Drift != "drifted" || !strings.Contains(u24.Reason, "memory 4096") {
		t.Errorf("tpl-ubuntu-24.04 = %+v", u24)
	}
	if win.Drift != "missing" || !win.BuiltAt.IsZero() || win.AgeSeconds != 0 {
		t.Errorf("tpl-win2022 = %+v", win)
	}
	if w := e.writes(); len(w) != 0 {
		t.Fatalf("status sent write requests: %v", w)
	}

	// No daemon on the address: the same, from Proxmox, saying why.
	addr := closedAddr(t)
	text := e.run("status", "--listen", addr)
	if text.code != 0 || !strings.Contains(text.stdout, "from Proxmox: no daemon answered on "+addr) {
		t.Fatalf("status without a daemon:\n%s", text)
	}
	for _, want := range []string{"tpl-ubuntu-22.04  9000", "2d2h", "drifted", "missing"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("text lacks %q:\n%s", want, text.stdout)
		}
	}
}
