package pvesim

import (
	"net/url"
	"regexp"
	"testing"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"
)

var reUPIDStrict = regexp.MustCompile(`^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmstart:100:root@pam!templated:$`)

func TestTaskLifecycle(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/100/status/stop", nil)
	srv.Cluster().CompleteTasks()
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/100/status/start", nil).(string)
	if !reUPIDStrict.MatchString(upid) {
		t.Fatalf("UPID %q not in PVE's format", upid)
	}
	path := "/nodes/pve1/tasks/" + upid + "/status"
	first := mustOK(t, srv, hc, "GET", path, nil).(map[string]any)
	if first["status"] != "running" || first["exitstatus"] != nil {
		t.Fatalf("first poll %v, want running without exitstatus", first)
	}
	if first["user"] != "root@pam" || first["tokenid"] != "templated" || first["type"] != "qmstart" ||
		first["id"] != "100" || first["node"] != "pve1" || first["upid"] != upid {
		t.Fatalf("status fields %v", first)
	}
	for _, k := range []string{"pid", "pstart", "starttime"} {
		if _, ok := first[k].(float64); !ok {
			t.Fatalf("%s is %T", k, first[k])
		}
	}
	exit, _ := waitTask(t, srv, hc, upid)
	if exit != "OK" {
		t.Fatalf("exit %q", exit)
	}
	last := mustOK(t, srv, hc, "GET", path, nil).(map[string]any)
	if last["status"] != "stopped" || last["exitstatus"] != "OK" {
		t.Fatalf("after end %v", last)
	}
	if g, _ := srv.Cluster().Guest(100); g.Status != "running" {
		t.Fatalf("VM 100 is %s after start", g.Status)
	}
	logs := mustOK(t, srv, hc, "GET", "/nodes/pve1/tasks/"+upid+"/log", nil).([]any)
	if l := logs[len(logs)-1].(map[string]any); l["t"] != "TASK OK" {
		t.Fatalf("log %v", logs)
	}
	list := mustOK(t, srv, hc, "GET", "/nodes/pve1/tasks", url.Values{"vmid": {"100"}}).([]any)
	if len(list) != 2 || list[0].(map[string]any)["upid"] != upid || list[0].(map[string]any)["status"] != "OK" {
		t.Fatalf("task list %v", list)
	}
}

func TestTaskErrors(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	cases := []struct{ path, exit string }{
		{"/nodes/pve1/qemu/8000/status/start", "you can't start a vm if it's a template"},
		{"/nodes/pve1/qemu/100/status/start", "VM 100 already running"},
		{"/nodes/pve1/qemu/4242/status/start", "Configuration file 'nodes/pve1/qemu-server/4242.conf' does not exist"},
		{"/nodes/pve1/qemu/8001/status/stop", "OK"},
	}
	for _, tc := range cases {
		upid := mustOK(t, srv, hc, "POST", tc.path, nil).(string)
		exit, running := waitTask(t, srv, hc, upid)
		if exit != tc.exit || !running {
			t.Errorf("%s: exit %q (seen running %v), want %q", tc.path, exit, running, tc.exit)
		}
	}
	if g, _ := srv.Cluster().Guest(8000); g.Status != "stopped" {
		t.Fatal("template started")
	}
	for _, upid := range []string{"garbage", "UPID:pve1:0003F001:00000001:00000001:qmstart:100:root@pam:"} {
		r := call(t, srv, hc, "GET", "/nodes/pve1/tasks/"+upid+"/status", nil)
		if r.Status != 400 || r.JSON["errors"].(map[string]any)["upid"] == nil {
			t.Errorf("unknown task %q: %d %s", upid, r.Status, r.Body)
		}
	}
}

func TestTaskThroughLibrary(t *testing.T) {
	srv := startSim(t, Options{TaskDuration: -1})
	c := pxClient(t, srv)
	ctx := testCtx(t)
	vmr, err := c.GetVmRefById(ctx, 101)
	if err != nil {
		t.Fatal(err)
	}
	exit, err := c.ShutdownVm(ctx, vmr)
	if err != nil || exit != "OK" {
		t.Fatalf("ShutdownVm: %q %v", exit, err)
	}
	st, err := vmr.GetRawGuestStatus(ctx, c)
	if err != nil || st.GetState() != pxapi.PowerStateStopped {
		t.Fatalf("status after shutdown: %v %v", st, err)
	}
	tpl, err := c.GetVmRefById(ctx, 8000)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTemplate(ctx, tpl); err == nil {
		t.Fatal("CreateTemplate of a template: want error")
	}
}
