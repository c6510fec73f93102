package pvesim

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"
)

func TestFaultHTTPError(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	id := srv.Faults().MustAdd(Fault{Method: "GET", Path: "/nodes/*/qemu/*/config", VMID: 100, Count: 1,
		Status: 500, Message: "storage 'local-lvm' is not online"})
	r := call(t, srv, hc, "GET", "/nodes/pve1/qemu/101/config", nil)
	if r.Status != 200 {
		t.Fatalf("other VMID hit: %d", r.Status)
	}
	r = call(t, srv, hc, "GET", "/nodes/pve1/qemu/100/config", nil)
	if r.Status != 500 || r.Reason != "storage 'local-lvm' is not online" || r.JSON["message"] != "storage 'local-lvm' is not online\n" {
		t.Fatalf("fault: %d %q %s", r.Status, r.Reason, r.Body)
	}
	if r := call(t, srv, hc, "GET", "/nodes/pve1/qemu/100/config", nil); r.Status != 200 {
		t.Fatalf("count=1 fault fired twice: %d", r.Status)
	}
	if srv.Faults().Hits(id) != 1 {
		t.Fatalf("hits %d", srv.Faults().Hits(id))
	}
	// skip=1 count=1: the first match passes, the second fails, the third passes.
	id = srv.Faults().MustAdd(Fault{Method: "GET", Path: "/nodes/*/qemu/*/config", VMID: 101, Skip: 1, Count: 1, Status: 500, Message: "second only"})
	for i, want := range []int{200, 500, 200} {
		if r := call(t, srv, hc, "GET", "/nodes/pve1/qemu/101/config", nil); r.Status != want {
			t.Fatalf("skip=1 count=1, request %d: status %d, want %d", i+1, r.Status, want)
		}
	}
	if srv.Faults().Hits(id) != 1 {
		t.Fatalf("skip=1 count=1 hits %d, want 1 (skipped requests are not hits)", srv.Faults().Hits(id))
	}
	// The library sees PVE's message as an ApiError.
	srv.Faults().MustAdd(Fault{Path: "/cluster/resources", Status: 500, Message: "cluster not ready - no quorum?"})
	_, err := pxapi.ListGuests(testCtx(t), pxClient(t, srv))
	var ae *pxapi.ApiError
	if !errors.As(err, &ae) || ae.Code != "500" || ae.Message != "cluster not ready - no quorum?" {
		t.Fatalf("ListGuests under fault: %v", err)
	}
	srv.Faults().Clear()
	if len(srv.Faults().List()) != 0 {
		t.Fatal("Clear left faults")
	}
	mustOK(t, srv, hc, "GET", "/cluster/resources", nil)
}

func TestFault596EmptyBody(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	f, err := ParseFault(`GET /cluster/resources status=596 message="Connection timed out" count=2`)
	if err != nil {
		t.Fatal(err)
	}
	srv.Faults().MustAdd(f)
	r := call(t, srv, hc, "GET", "/cluster/resources", url.Values{"type": {"vm"}})
	if r.Status != 596 || r.Reason != "Connection timed out" || len(r.Body) != 0 {
		t.Fatalf("596: %d %q %q", r.Status, r.Reason, r.Body)
	}
	srv.Faults().MustAdd(Fault{Method: "PUT", Status: 596, Message: "Errors during TLS negotiation, request sending and header processing"})
	// Put does not retry: with an empty body the status line is the error.
	err = pxClient(t, srv).Put(testCtx(t), map[string]any{"name": "x"}, "/nodes/pve1/qemu/100/config")
	if err == nil || err.Error() != "596 Errors during TLS negotiation, request sending and header processing" {
		t.Fatalf("library error %v", err)
	}
	var ae *pxapi.ApiError
	if errors.As(err, &ae) {
		t.Fatalf("empty body became an ApiError %+v", ae)
	}
}

func TestFaultTaskExitAndHang(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	srv.Faults().MustAdd(Fault{Method: "POST", Path: "/nodes/pve1/qemu/*/status/start", VMID: 8000, TaskExit: "never reached"})
	srv.Faults().MustAdd(Fault{Method: "POST", Path: "/nodes/*/qemu/*/template", TaskExit: "unable to create template: disk vanished"})
	if err := srv.Cluster().SetRunning(101, false); err != nil {
		t.Fatal(err)
	}
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/101/template", nil).(string)
	if exit, _ := waitTask(t, srv, hc, upid); exit != "unable to create template: disk vanished" {
		t.Fatalf("exit %q", exit)
	}
	if g, _ := srv.Cluster().Guest(101); g.Template {
		t.Fatal("failed template task converted the VM")
	}
	// The worker's own error wins over an injected one.
	upid = mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/status/start", nil).(string)
	if exit, _ := waitTask(t, srv, hc, upid); exit != "you can't start a vm if it's a template" {
		t.Fatalf("exit %q", exit)
	}

	srv.Faults().MustAdd(Fault{Path: "/nodes/*/qemu/*/clone", TaskHang: true})
	upid = mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/clone", url.Values{"newid": {"9000"}}).(string)
	for i := 0; i < 5; i++ {
		d := mustOK(t, srv, hc, "GET", "/nodes/pve1/tasks/"+upid+"/status", nil).(map[string]any)
		if d["status"] != "running" {
			t.Fatalf("hanging task ended: %v", d)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if g, _ := srv.Cluster().Guest(9000); g.Lock != "clone" {
		t.Fatalf("stuck clone lock %q", g.Lock)
	}
	mustOK(t, srv, hc, "DELETE", "/nodes/pve1/tasks/"+upid, nil)
	if task, _ := srv.Cluster().Task(upid); task.ExitStatus != "interrupted by signal" {
		t.Fatalf("stopped task %+v", task)
	}
	if _, ok := srv.Cluster().Guest(9000); ok {
		t.Fatal("interrupted clone left its VM")
	}
}

func TestFaultDropAndLatency(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	srv.Faults().MustAdd(Fault{Method: "GET", Path: "/version", Drop: true, Count: 1})
	req, _ := http.NewRequest("GET", srv.URL()+"/version", nil)
	req.Header.Set("Authorization", srv.AuthHeader())
	if resp, err := hc.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped request answered %s", resp.Status)
	}
	mustOK(t, srv, hc, "GET", "/version", nil)

	srv.Faults().MustAdd(Fault{Path: "/nodes/**", Latency: time.Minute})
	short := &http.Client{Transport: hc.Transport, Timeout: 200 * time.Millisecond}
	req, _ = http.NewRequest("GET", srv.URL()+"/nodes/pve1/qemu", nil)
	req.Header.Set("Authorization", srv.AuthHeader())
	if resp, err := short.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("request under a 1-minute latency fault answered %s", resp.Status)
	}
	mustOK(t, srv, hc, "GET", "/version", nil) // other paths are unaffected
	srv.Faults().Clear()
	mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu", nil)
}

func TestParseFault(t *testing.T) {
	cases := []struct {
		spec string
		want Fault
	}{
		{`POST /nodes/*/qemu/*/clone status=500 message="clone refused: x y" count=1`,
			Fault{Method: "POST", Path: "/nodes/*/qemu/*/clone", Status: 500, Message: "clone refused: x y", Count: 1}},
		{`vmid=9001 task-hang`, Fault{VMID: 9001, TaskHang: true}},
		{`POST /nodes/*/qemu/*/clone vmid=9900 skip=1 status=596`, Fault{Method: "POST", Path: "/nodes/*/qemu/*/clone", VMID: 9900, Skip: 1, Status: 596}},
		{`/version latency=2s`, Fault{Path: "/version", Latency: 2 * time.Second}},
		{`re:^/nodes/[^/]+/qemu$ drop`, Fault{Path: "re:^/nodes/[^/]+/qemu$", Drop: true}},
		{`DELETE /nodes/*/qemu/* task-exit="VM is locked (backup)"`, Fault{Method: "DELETE", Path: "/nodes/*/qemu/*", TaskExit: "VM is locked (backup)"}},
	}
	for _, tc := range cases {
		got, err := ParseFault(tc.spec)
		if err != nil || got != tc.want {
			t.Errorf("ParseFault(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
	for _, bad := range []string{`/version`, `status=200`, `bogus=1`, `message="open`, `re:( drop`, `count=-1 drop`, `skip=-1 drop`} {
		if _, err := ParseFault(bad); err == nil {
			t.Errorf("ParseFault(%q): want error", bad)
		}
	}
}

func TestFaultPathMatching(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{"/nodes/*/qemu/*/config", "/nodes/pve1/qemu/100/config", true},
		{"/nodes/*/qemu/*/config", "/nodes/pve1/qemu/100/pending", false},
		{"/nodes/**", "/nodes/pve1/qemu/100/config", true},
		{"/nodes/**", "/nodes", true},
		{"/nodes/**", "/cluster/resources", false},
		{"re:/status/(start|stop)$", "/nodes/pve1/qemu/1/status/stop", true},
		{"", "/anything", true},
	}
	for _, tc := range cases {
		var fs Faults
		fs.MustAdd(Fault{Path: tc.pattern, Drop: true})
		if _, got := fs.match("GET", tc.path, nil); got != tc.want {
			t.Errorf("%q vs %q: %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}
