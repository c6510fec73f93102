package pvesim

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMultipartOnNonUploadIs506: pveproxy reads a POST/PUT body only when
// it is form-urlencoded or JSON, except for the upload path; the multipart
// Content-Type that plugin v1.1.1's API library keeps after an upload
// (packer-plugin-proxmox#150) gets 506, the header in the reason phrase,
// no body, and changes nothing.
func TestMultipartOnNonUploadIs506(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	before, _ := srv.Cluster().Guest(101)
	ctype := "multipart/form-data; boundary=6bab62e418490cdc"
	for _, method := range []string{"PUT", "POST"} {
		req, _ := http.NewRequest(method, srv.URL()+"/nodes/pve1/qemu/101/config", strings.NewReader("cores=6"))
		req.Header.Set("Authorization", srv.AuthHeader())
		req.Header.Set("Content-Type", ctype)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body [1]byte
		n, _ := resp.Body.Read(body[:])
		resp.Body.Close()
		want := "506 upload 'Content-Type '" + ctype + "' not implemented"
		if resp.Status != want || n != 0 {
			t.Errorf("%s config with a multipart Content-Type: %q (%d body bytes), want %q and no body", method, resp.Status, n, want)
		}
	}
	if after, _ := srv.Cluster().Guest(101); after.Config["cores"] != before.Config["cores"] || len(after.Pending) != 0 {
		t.Errorf("the refused request changed the guest: %+v", after)
	}
	// Other media types are refused the same way; form and JSON bodies pass.
	req, _ := http.NewRequest("PUT", srv.URL()+"/nodes/pve1/qemu/101/config", strings.NewReader("cores=6"))
	req.Header.Set("Authorization", srv.AuthHeader())
	req.Header.Set("Content-Type", "text/plain")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 506 {
		t.Errorf("text/plain body: %s, want 506", resp.Status)
	}
	if r := call(t, srv, hc, "PUT", "/nodes/pve1/qemu/101/config", url.Values{"cores": {"6"}}); r.Status != 200 {
		t.Errorf("form body: %d %s", r.Status, r.Reason)
	}
	// Without a body the header does not matter.
	req, _ = http.NewRequest("POST", srv.URL()+"/nodes/pve1/qemu/8000/template", nil)
	req.Header.Set("Authorization", srv.AuthHeader())
	req.Header.Set("Content-Type", ctype)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(resp.Status, "you can't convert a template to a template") {
		t.Errorf("bodyless POST with a multipart header: %s, want the handler's own answer", resp.Status)
	}
}

// TestDeleteISOContent: DELETE …/content/{volume} takes a full volume id
// or a name on the storage, answers an imgdel task, and the volume goes
// when the worker runs.
func TestDeleteISOContent(t *testing.T) {
	srv := startSim(t, Options{TaskDuration: time.Hour})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	has := func(volid string) bool {
		for _, v := range c.Volumes("pve1", "local") {
			if v.Volid == volid {
				return true
			}
		}
		return false
	}
	for _, vol := range []string{"local:iso/a.iso", "iso/a.iso"} {
		if err := c.AddISO("local", "a.iso", 2048); err != nil {
			t.Fatal(err)
		}
		upid := mustOK(t, srv, hc, "DELETE", "/nodes/pve1/storage/local/content/"+vol, nil).(string)
		task, ok := c.Task(upid)
		if !ok || task.Type != "imgdel" || task.ID != "local" || task.Status != "running" {
			t.Fatalf("DELETE %s: task %+v", vol, task)
		}
		if !has("local:iso/a.iso") {
			t.Fatalf("DELETE %s: the volume went before the worker ran", vol)
		}
		c.CompleteTasks()
		if task, _ = c.Task(upid); task.ExitStatus != "OK" || has("local:iso/a.iso") {
			t.Fatalf("DELETE %s: after the task (%q) the volume is still listed", vol, task.ExitStatus)
		}
	}
	r := call(t, srv, hc, "DELETE", "/nodes/pve1/storage/local/content/local-lvm:iso/a.iso", nil)
	if r.Status != 400 || !strings.Contains(string(r.Body), "storage ID mismatch (local-lvm != local)") {
		t.Errorf("volume of another storage: %d %s", r.Status, r.Body)
	}
	r = call(t, srv, hc, "DELETE", "/nodes/pve1/storage/local/content/iso/a.iso", nil)
	if r.Status != 500 || r.Reason != "volume 'local:iso/a.iso' does not exist" {
		t.Errorf("missing volume: %d %q", r.Status, r.Reason)
	}
}

// TestCloneOfLockedSourceRefused: clone_vm checks the source's lock before
// forking, so a locked source gets a synchronous 500 and no task or guest.
func TestCloneOfLockedSourceRefused(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	if err := c.SetConfig(8000, map[string]string{"lock": "backup"}); err != nil {
		t.Fatal(err)
	}
	tasks := len(c.Tasks())
	r := call(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/clone", url.Values{"newid": {"9000"}, "name": {"x"}, "full": {"1"}})
	if r.Status != 500 || r.Reason != "VM is locked (backup)" || r.JSON["message"] != "VM is locked (backup)\n" {
		t.Fatalf("clone of a locked source: %d %q %s", r.Status, r.Reason, r.Body)
	}
	if _, ok := c.Guest(9000); ok || len(c.Tasks()) != tasks {
		t.Fatal("the refused clone left a guest or a task")
	}
}

// statusSpy is a ResponseWriter that notes, when the answer starts, how
// many requests the simulator had recorded.
type statusSpy struct {
	*httptest.ResponseRecorder
	srv      *Server
	once     sync.Once
	recorded []Request
}

func (s *statusSpy) WriteHeader(code int) {
	s.once.Do(func() { s.recorded = s.srv.Requests() })
	s.ResponseRecorder.WriteHeader(code)
}

// TestRequestRecordedBeforeAnswer: a client that has its answer finds its
// request in Requests, for successes and errors alike.
func TestRequestRecordedBeforeAnswer(t *testing.T) {
	srv := startSim(t, Options{})
	for _, tc := range []struct {
		path   string
		status int
	}{{"/api2/json/version", 200}, {"/api2/json/nodes/pve1/qemu/4242/config", 500}} {
		srv.ResetRequests()
		req := httptest.NewRequest("GET", tc.path, nil)
		req.Header.Set("Authorization", srv.AuthHeader())
		spy := &statusSpy{ResponseRecorder: httptest.NewRecorder(), srv: srv}
		srv.ServeHTTP(spy, req)
		if spy.Code != tc.status {
			t.Fatalf("GET %s: %d, want %d", tc.path, spy.Code, tc.status)
		}
		if len(spy.recorded) != 1 || spy.recorded[0].Status != tc.status || "/api2/json"+spy.recorded[0].Path != tc.path {
			t.Errorf("GET %s: recorded when the answer started: %+v, want the request with status %d", tc.path, spy.recorded, tc.status)
		}
	}
}

// TestVacancies: deleting a guest opens a vacancy at its VMID when the
// delete task commits; the next clone that takes the VMID closes it at the
// moment its locked config appears.
func TestVacancies(t *testing.T) {
	srv := startSim(t, Options{TaskDuration: time.Hour})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	var mu sync.Mutex
	clock := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	c.mu.Lock()
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	c.mu.Unlock()
	tick := func() time.Time { mu.Lock(); defer mu.Unlock(); clock = clock.Add(time.Second); return clock }

	mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/clone", url.Values{"newid": {"9000"}, "name": {"tpl"}, "full": {"1"}})
	c.CompleteTasks()
	if v := c.Vacancies(9000); len(v) != 0 {
		t.Fatalf("vacancies of a VMID never vacated: %v", v)
	}
	upid := mustOK(t, srv, hc, "DELETE", "/nodes/pve1/qemu/9000", nil).(string)
	if v := c.Vacancies(9000); len(v) != 0 {
		t.Fatalf("vacancy before the delete task ended: %v", v)
	}
	deleted := tick()
	c.CompleteTasks()
	if task, _ := c.Task(upid); task.ExitStatus != "OK" {
		t.Fatalf("delete: %+v", task)
	}
	if v := c.Vacancies(9000); len(v) != 1 || !v[0].From.Equal(deleted) || !v[0].To.IsZero() {
		t.Fatalf("after the delete: %v, want one open vacancy from %s", v, deleted)
	}
	taken := tick()
	mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/clone", url.Values{"newid": {"9000"}, "name": {"tpl"}, "full": {"1"}})
	v := c.Vacancies(9000)
	if g, _ := c.Guest(9000); g.Lock != "clone" || len(v) != 1 || !v[0].To.Equal(taken) || v[0].Duration() != time.Second {
		t.Fatalf("after the clone started (lock %q): %v, want the vacancy closed at %s", g.Lock, v, taken)
	}
	// Removing the guest by hand vacates the VMID again.
	c.CompleteTasks()
	if err := c.RemoveGuest(9000); err != nil {
		t.Fatal(err)
	}
	if v := c.Vacancies(9000); len(v) != 2 || !v[1].To.IsZero() {
		t.Fatalf("after RemoveGuest: %v", v)
	}
}
