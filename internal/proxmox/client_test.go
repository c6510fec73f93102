package proxmox_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logrustest "github.com/sirupsen/logrus/hooks/test"

	"templated/internal/proxmox"
	"templated/internal/reconcile"
	"templated/internal/state"
)

var _ reconcile.Cluster = (*proxmox.Client)(nil)

// mockPVE answers exact "METHOD /path" routes (path below /api2/json, with
// the raw query) and logs every request.
type mockPVE struct {
	mu     sync.Mutex
	routes map[string]http.HandlerFunc
	log    []string
	bodies []string
}

func (m *mockPVE) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	key := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/api2/json")
	if r.URL.RawQuery != "" {
		key += "?" + r.URL.RawQuery
	}
	m.mu.Lock()
	m.log = append(m.log, key)
	m.bodies = append(m.bodies, string(b))
	h := m.routes[key]
	m.mu.Unlock()
	if r.Header.Get("Authorization") != "PVEAPIToken=root@pam!test="+testSecret {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if h == nil {
		http.Error(w, `{"data":null,"message":"Method '`+key+`' not implemented"}`, 501)
		return
	}
	h(w, r)
}

func (m *mockPVE) requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.log...)
}

func data(v any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		json.NewEncoder(w).Encode(map[string]any{"data": v})
	}
}

func pveError(status int, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"data": nil, "message": msg + "\n"})
	}
}

func newMock(t *testing.T, routes map[string]http.HandlerFunc) (*mockPVE, *httptest.Server) {
	m := &mockPVE{routes: routes}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv
}

func testClient(t *testing.T, url string, opts proxmox.Options) *proxmox.Client {
	t.Helper()
	if opts.PollInterval == 0 {
		opts.PollInterval = 10 * time.Millisecond
	}
	c, err := proxmox.New(proxmox.Config{URL: url, TokenID: "root@pam!test", TokenSecret: testSecret}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestListGuestsOneRequestKeepsLXC(t *testing.T) {
	m, srv := newMock(t, map[string]http.HandlerFunc{
		"GET /cluster/resources?type=vm": data([]any{
			map[string]any{"id": "qemu/101", "type": "qemu", "vmid": 101, "node": "pve", "name": "web", "status": "running", "template": 0, "maxcpu": 4, "maxmem": 4294967296, "maxdisk": 34359738368},
			map[string]any{"id": "lxc/200", "type": "lxc", "vmid": 200, "node": "pve", "name": "ct", "status": "running"},
			map[string]any{"id": "qemu/9000", "type": "qemu", "vmid": 9000, "node": "pve", "name": "tpl-ubuntu-22.04", "status": "stopped", "template": 1, "tags": "Ubuntu;golden", "lock": "clone", "maxcpu": 2, "maxmem": 2147483648, "maxdisk": 34359738368},
			map[string]any{"id": "qemu/1000", "type": "qemu", "vmid": 1000, "node": "pve2", "status": "unknown"},
		}),
	})
	c := testClient(t, srv.URL, proxmox.Options{})
	got, err := c.ListGuests(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []state.Guest{
		{VMID: 101, Name: "web", Node: "pve", Type: "qemu", Status: "running", MaxCPU: 4, MaxMem: 4294967296, MaxDisk: 34359738368},
		{VMID: 200, Name: "ct", Node: "pve", Type: "lxc", Status: "running"},
		{VMID: 1000, Node: "pve2", Type: "qemu", Status: "unknown"},
		{VMID: 9000, Name: "tpl-ubuntu-22.04", Node: "pve", Type: "qemu", Template: true, Status: "stopped", Lock: "clone",
			Tags: []string{"golden", "ubuntu"}, MaxCPU: 2, MaxMem: 2147483648, MaxDisk: 34359738368},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if r := m.requests(); len(r) != 1 {
		t.Fatalf("requests = %v, want exactly one", r)
	}
	if s := c.Stats(); s.Requests != 1 || s.Bytes == 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestGuestConfigParses(t *testing.T) {
	_, srv := newMock(t, map[string]http.HandlerFunc{
		"GET /nodes/pve/qemu/9000/config": data(map[string]any{
			"name": "tpl", "template": 1, "cores": 2, "sockets": 2, "memory": "4096", "agent": "enabled=1,fstrim_cloned_disks=1",
			"scsi0": "local-lvm:base-9000-disk-0,iothread=1,size=32G", "scsi1": "local-lvm:base-9000-disk-1,size=512M",
			"virtio0": "local:9000/base-9000-disk-2.qcow2,size=1T", "ide2": "local-lvm:vm-9000-cloudinit,media=cdrom",
			"ide0": "local:iso/ubuntu.iso,media=cdrom", "sata0": "none,media=cdrom",
			"tags": "b;a", "description": "managed-by=templated\nspec=1", "digest": "abc", "lock": "backup", "onboot": 1,
		}),
		"GET /nodes/pve/qemu/101/config": data(map[string]any{"memory": 1024, "agent": "1", "scsi0": "local-lvm:vm-101-disk-0,size=10737418240"}),
		"GET /nodes/pve/qemu/102/config": data(map[string]any{"memory": "current=2048,max=8192", "agent": "0"}),
	})
	c := testClient(t, srv.URL, proxmox.Options{})
	gc, err := c.GuestConfig(t.Context(), "pve", 9000)
	if err != nil {
		t.Fatal(err)
	}
	want := state.GuestConfig{VMID: 9000, Node: "pve", Name: "tpl", Template: true, Lock: "backup", Cores: 2, Sockets: 2,
		MemoryMiB: 4096, Agent: true, CloudInit: true,
		Disks: []state.Disk{
			{Key: "scsi0", Volume: "local-lvm:base-9000-disk-0", SizeGB: 32},
			{Key: "scsi1", Volume: "local-lvm:base-9000-disk-1", SizeGB: 0.5},
			{Key: "virtio0", Volume: "local:9000/base-9000-disk-2.qcow2", SizeGB: 1024},
		},
		Tags: []string{"a", "b"}, Description: "managed-by=templated\nspec=1", Digest: "abc"}
	raw := gc.Raw
	gc.Raw = nil
	if !reflect.DeepEqual(gc, want) {
		t.Fatalf("got  %+v\nwant %+v", gc, want)
	}
	if raw["onboot"] != "1" || raw["cores"] != "2" || raw["memory"] != "4096" {
		t.Fatalf("raw = %v", raw)
	}
	gc, err = c.GuestConfig(t.Context(), "pve", 101)
	if err != nil || gc.MemoryMiB != 1024 || !gc.Agent || gc.Cores != 1 || gc.Sockets != 1 || gc.Disks[0].SizeGB != 10 {
		t.Fatalf("101: %+v %v", gc, err)
	}
	gc, err = c.GuestConfig(t.Context(), "pve", 102)
	if err != nil || gc.MemoryMiB != 2048 || gc.Agent || len(gc.Disks) != 0 {
		t.Fatalf("102: %+v %v", gc, err)
	}
}

func TestErrorClassification(t *testing.T) {
	cases := []struct {
		name    string
		h       http.HandlerFunc
		kind    error
		message string
	}{
		{"not found", pveError(500, "Configuration file 'nodes/pve/qemu-server/9000.conf' does not exist"), proxmox.ErrNotFound, "does not exist"},
		{"locked", pveError(500, "VM is locked (clone)"), proxmox.ErrLocked, "qm unlock"},
		{"forbidden", pveError(403, "Permission check failed (/vms/9000, VM.Audit)"), proxmox.ErrPermission, "grant token root@pam!test"},
		{"596 empty body", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(596) }, proxmox.ErrAPI, "596"},
		{"500 message", pveError(500, "got timeout"), proxmox.ErrAPI, "Proxmox answered 500: got timeout"},
		{"400 params", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(400)
			io.WriteString(w, `{"data":null,"message":"Parameter verification failed.","errors":{"vmid":"invalid"}}`)
		}, proxmox.ErrInvalid, "vmid: invalid"},
		{"panic on odd JSON", data("a string, not an object"), proxmox.ErrUnexpected, "unexpected answer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, srv := newMock(t, map[string]http.HandlerFunc{"GET /nodes/pve/qemu/9000/config": tc.h})
			c := testClient(t, srv.URL, proxmox.Options{})
			_, err := c.GuestConfig(t.Context(), "pve", 9000)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("err = %v; want kind %v with %q", err, tc.kind, tc.message)
			}
			if n := len(m.requests()); n != 1 {
				t.Fatalf("%d requests, want 1 (no retries)", n)
			}
		})
	}
}

func TestAuthFailureIsNotRetried(t *testing.T) {
	m, srv := newMock(t, nil)
	c, err := proxmox.New(proxmox.Config{URL: srv.URL, TokenID: "root@pam!test", TokenSecret: "wrong-" + testSecret}, proxmox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListGuests(t.Context())
	if !errors.Is(err, proxmox.ErrAuth) || !strings.Contains(err.Error(), "token wrong or revoked") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Fatal("secret in error")
	}
	if n := len(m.requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestNotTheAPI(t *testing.T) {
	m, srv := newMock(t, map[string]http.HandlerFunc{
		"GET /version": func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html><body>login</body></html>") },
		"GET /nodes/pve/qemu/1/config": func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "Client sent an HTTP request to an HTTPS server.", http.StatusBadRequest)
		},
	})
	c := testClient(t, srv.URL, proxmox.Options{})
	err := c.Ping(t.Context())
	if !errors.Is(err, proxmox.ErrUnexpected) || !strings.Contains(err.Error(), "text/html") || !strings.Contains(err.Error(), "is PROXMOX_URL the Proxmox API") {
		t.Fatalf("err = %v", err)
	}
	_, err = c.GuestConfig(t.Context(), "pve", 1)
	if !errors.Is(err, proxmox.ErrInvalid) || !strings.Contains(err.Error(), "use https:// in PROXMOX_URL") {
		t.Fatalf("err = %v", err)
	}
	if n := len(m.requests()); n != 2 {
		t.Fatalf("%d requests, want 2 (no retries)", n)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := testClient(t, "http://"+addr, proxmox.Options{})
	_, err = c.ListGuests(t.Context())
	if !errors.Is(err, proxmox.ErrUnreachable) || !strings.Contains(err.Error(), "cannot reach Proxmox at http://"+addr+"/api2/json") ||
		!strings.Contains(err.Error(), "check PROXMOX_URL and the network") {
		t.Fatalf("err = %v", err)
	}
}

func writeCA(t *testing.T, srv *httptest.Server) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTLS(t *testing.T) {
	m := &mockPVE{routes: map[string]http.HandlerFunc{"GET /version": data(map[string]any{"version": "8.4.1", "release": "8.4"})}}
	srv := httptest.NewUnstartedServer(m)
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the handshake failure below is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cfg := proxmox.Config{URL: srv.URL, TokenID: "root@pam!test", TokenSecret: testSecret}

	c, _ := proxmox.New(cfg, proxmox.Options{})
	err := c.Ping(t.Context())
	var uae x509.UnknownAuthorityError
	if !errors.Is(err, proxmox.ErrTLS) || !strings.Contains(err.Error(), "set PROXMOX_CA_FILE") || !errors.As(err, &uae) {
		t.Fatalf("without CA: %v", err)
	}

	cfg.CAFile = writeCA(t, srv)
	c, _ = proxmox.New(cfg, proxmox.Options{})
	if v, err := c.Version(t.Context()); err != nil || v != "8.4.1" {
		t.Fatalf("with CA: %q %v", v, err)
	}

	log, hook := logrustest.NewNullLogger()
	cfg.CAFile = ""
	cfg.InsecureSkipTLSVerify = true
	c, _ = proxmox.New(cfg, proxmox.Options{Log: log})
	if err := c.Ping(t.Context()); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	if e := hook.LastEntry(); e == nil || e.Level != logrus.WarnLevel || !strings.Contains(e.Message, "verification is OFF") {
		t.Fatalf("no warning logged for insecure TLS: %v", hook.AllEntries())
	}
}

func TestDeadlineWhileLibrarySleeps(t *testing.T) {
	// 200 with broken JSON: proxmox-api-go retries GETs after sleeping
	// 1 s, 2 s and 3 s without looking at ctx.
	m, srv := newMock(t, map[string]http.HandlerFunc{
		"GET /cluster/resources?type=vm": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"data":[`)
		},
	})
	c := testClient(t, srv.URL, proxmox.Options{ReadTimeout: 200 * time.Millisecond})
	_, err := c.ListGuests(t.Context())
	if !errors.Is(err, proxmox.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if n := len(m.requests()); n != 1 {
		t.Fatalf("%d requests before the deadline, want 1", n)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.ListGuests(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled ctx: %v", err)
	}
}

func upid(typ, id string) string {
	return fmt.Sprintf("UPID:pve:0003F1A2:01A2B3C4:65F0A1B2:%s:%s:root@pam!test:", typ, id)
}

// taskRoutes serves a task that is running on the first poll and then
// stopped with exit.
func taskRoute(routes map[string]http.HandlerFunc, u, exit string) {
	var mu sync.Mutex
	polls := 0
	routes["GET /nodes/pve/tasks/"+u+"/status"] = func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		polls++
		p := polls
		mu.Unlock()
		st := map[string]any{"upid": u, "status": "running"}
		if p > 1 {
			st["status"], st["exitstatus"] = "stopped", exit
		}
		data(st)(w, r)
	}
}

func TestCloneWaitsForTask(t *testing.T) {
	u := upid("qmclone", "9000")
	routes := map[string]http.HandlerFunc{"POST /nodes/pve/qemu/9000/clone": data(u)}
	taskRoute(routes, u, "OK")
	m, srv := newMock(t, routes)
	c := testClient(t, srv.URL, proxmox.Options{})
	if err := c.Clone(t.Context(), "pve", 9000, 9900, "tpl-staging"); err != nil {
		t.Fatal(err)
	}
	want := []string{"POST /nodes/pve/qemu/9000/clone", "GET /nodes/pve/tasks/" + u + "/status", "GET /nodes/pve/tasks/" + u + "/status"}
	if got := m.requests(); !reflect.DeepEqual(got, want) {
		t.Fatalf("requests = %v", got)
	}
	if b := m.bodies[0]; b != "full=1&name=tpl-staging&newid=9900&target=pve" {
		t.Fatalf("clone body = %q", b)
	}
	if err := c.Clone(t.Context(), "pve", 9000, 9901, "bad_name"); !errors.Is(err, proxmox.ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
}

func TestFailedTaskIsTaskError(t *testing.T) {
	u := upid("qmtemplate", "9900")
	routes := map[string]http.HandlerFunc{"POST /nodes/pve/qemu/9900/template": data(u)}
	taskRoute(routes, u, "unable to create template: disk busy")
	_, srv := newMock(t, routes)
	c := testClient(t, srv.URL, proxmox.Options{})
	err := c.ConvertToTemplate(t.Context(), "pve", 9900)
	var te *state.TaskError
	if !errors.As(err, &te) || te.UPID != u || te.ExitStatus != "unable to create template: disk busy" {
		t.Fatalf("err = %v", err)
	}
}

func TestDeleteStopsRunningVMFirst(t *testing.T) {
	stop, del := upid("qmstop", "101"), upid("qmdestroy", "101")
	routes := map[string]http.HandlerFunc{
		"GET /nodes/pve/qemu/101/status/current": data(map[string]any{"vmid": 101, "status": "running"}),
		"POST /nodes/pve/qemu/101/status/stop":   data(stop),
		"DELETE /nodes/pve/qemu/101":             data(del),
	}
	taskRoute(routes, stop, "OK")
	taskRoute(routes, del, "OK")
	m, srv := newMock(t, routes)
	c := testClient(t, srv.URL, proxmox.Options{})
	if err := c.Delete(t.Context(), "pve", 101); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range m.requests() {
		if !strings.Contains(r, "/tasks/") {
			got = append(got, r)
		}
	}
	want := []string{"GET /nodes/pve/qemu/101/status/current", "POST /nodes/pve/qemu/101/status/stop", "DELETE /nodes/pve/qemu/101"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("requests = %v", got)
	}
}

func TestSetMetaBody(t *testing.T) {
	m, srv := newMock(t, map[string]http.HandlerFunc{"PUT /nodes/pve/qemu/9000/config": data(nil)})
	c := testClient(t, srv.URL, proxmox.Options{})
	if err := c.SetMeta(t.Context(), "pve", 9000, "managed-by=templated\nx=1", []string{"Golden", "ubuntu;golden"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetMeta(t.Context(), "pve", 9000, "", nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"description=managed-by%3Dtemplated%0Ax%3D1&tags=golden%3Bubuntu", "delete=description%2Ctags"}
	if !reflect.DeepEqual(m.bodies, want) {
		t.Fatalf("bodies = %q", m.bodies)
	}
	if err := c.SetMeta(t.Context(), "pve", 9000, "", []string{"bad/tag"}); !errors.Is(err, proxmox.ErrInvalid) || len(m.requests()) != 2 {
		t.Fatalf("invalid tag: %v", err)
	}
}

func TestLinkedClones(t *testing.T) {
	m, srv := newMock(t, map[string]http.HandlerFunc{
		"GET /nodes/pve/qemu/9000/config": data(map[string]any{"template": 1,
			"scsi0": "local-zfs:base-9000-disk-0,size=32G", "scsi1": "local:9000/base-9000-disk-1.qcow2,size=1G"}),
		"GET /nodes/pve/storage/local-zfs/content?content=images": data([]any{
			map[string]any{"volid": "local-zfs:base-9000-disk-0", "vmid": 9000},
			map[string]any{"volid": "local-zfs:base-9000-disk-0/vm-120-disk-0", "vmid": 120},
			map[string]any{"volid": "local-zfs:base-19000-disk-0/vm-121-disk-0", "vmid": 121},
			map[string]any{"volid": "local-zfs:vm-122-disk-0", "vmid": 122, "parent": "base-9000-disk-0@__base__"},
		}),
		"GET /nodes/pve/storage/local/content?content=images": data([]any{
			map[string]any{"volid": "local:9000/base-9000-disk-1.qcow2/110/vm-110-disk-0.qcow2", "vmid": 110, "parent": "../9000/base-9000-disk-1.qcow2"},
			map[string]any{"volid": "local:120/vm-120-disk-1.qcow2", "vmid": 120},
		}),
	})
	c := testClient(t, srv.URL, proxmox.Options{})
	got, err := c.LinkedClones(t.Context(), "pve", 9000)
	if err != nil || !reflect.DeepEqual(got, []int{110, 120, 122}) {
		t.Fatalf("got %v %v", got, err)
	}
	if n := len(m.requests()); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
}

func TestSecretNeverInErrorsOrLogs(t *testing.T) {
	log, hook := logrustest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	// A server that echoes the Authorization header into its error message.
	echo := func(w http.ResponseWriter, r *http.Request) {
		pveError(500, "bad request from "+r.Header.Get("Authorization"))(w, r)
	}
	_, srv := newMock(t, map[string]http.HandlerFunc{"GET /nodes/pve/qemu/1/config": echo, "GET /version": echo})
	c := testClient(t, srv.URL, proxmox.Options{Log: log})
	var errs []error
	_, err := c.GuestConfig(t.Context(), "pve", 1)
	errs = append(errs, err)
	errs = append(errs, c.Ping(t.Context()))
	errs = append(errs, c.Delete(t.Context(), "pve", 1))
	for _, err := range errs {
		if err == nil {
			t.Fatal("expected an error")
		}
		if strings.Contains(err.Error(), testSecret) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), testSecret) {
			t.Fatalf("secret in error: %v", err)
		}
	}
	for _, e := range hook.AllEntries() {
		if s, _ := e.String(); strings.Contains(s, testSecret) {
			t.Fatalf("secret logged: %s", s)
		}
	}
}

func TestClientFormattingHidesSecret(t *testing.T) {
	const secret = "0f7c5b1e-6d2a-4c3b-9e8f-1a2b3c4d5e6f"
	c, err := proxmox.New(proxmox.Config{URL: "https://127.0.0.1:8006", TokenID: "root@pam!ci", TokenSecret: proxmox.Secret(secret)}, proxmox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%+v", c.Config())} {
		if strings.Contains(s, secret) {
			t.Fatalf("formatted client shows the secret: %s", s)
		}
	}
}

// A token id pasted with its secret ("USER@REALM=SECRET", the header's
// tail) is refused without echoing the secret.
func TestNewBadTokenIDHidesSecret(t *testing.T) {
	_, err := proxmox.New(proxmox.Config{URL: "https://127.0.0.1:8006", TokenID: "root@pam=" + testSecret, TokenSecret: testSecret}, proxmox.Options{})
	if err == nil || !strings.Contains(err.Error(), "is not USER@REALM!TOKENID") || strings.Contains(err.Error(), testSecret) {
		t.Fatalf("err = %v", err)
	}
}

// A token id outside PVE's syntax (a ':' in it, as in "id:secret") is
// refused by New itself, not only by LoadConfig, and never quoted: it
// would otherwise reach the 401 hint.
func TestNewChecksTokenIDSyntax(t *testing.T) {
	for _, id := range []string{"root@pam!ci:" + testSecret, "root@pam!t", "root@pam!ci token"} {
		_, err := proxmox.New(proxmox.Config{URL: "https://127.0.0.1:8006", TokenID: id, TokenSecret: testSecret}, proxmox.Options{})
		if err == nil || !strings.Contains(err.Error(), "is not USER@REALM!TOKENID") || strings.Contains(err.Error(), id) {
			t.Errorf("%q: err = %v", id, err)
		}
	}
}
