package pvesim

import (
	"net/http"
	"testing"
	"time"
)

// noRedirects makes a client report a redirect instead of following it.
func noRedirects(hc *http.Client) *http.Client {
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return hc
}

// TestUnroutedAnswer501: an unknown path and a known path with another
// method both get PVE's 501 (not the mux's 404, 405 or a redirect), the
// path below /api2/json, decoded, in the message.
func TestUnroutedAnswer501(t *testing.T) {
	srv := startSim(t, Options{NoTLS: true})
	hc := noRedirects(httpClient(t, srv))
	for _, path := range []string{
		"/x",
		"/",
		"/nodes/pve1/qemu/100/bogus",
		"/nodes/pve1//qemu",
		"/nodes/pve1/qemu/100/status/../config",
		"/nodes/pve1/storage/local/upload/local:iso/virtio-win.iso",
	} {
		wantAnswer{"GET", path, 501, "Method 'GET " + path + "' not implemented"}.check(t, srv, hc)
	}
	for _, tc := range []wantAnswer{
		{"PATCH", "/version", 501, "Method 'PATCH /version' not implemented"},
		{"HEAD", "/version", 501, "Method 'HEAD /version' not implemented"}, // a mux's GET pattern matches HEAD
		{"PUT", "/nodes/pve1/qemu/100", 501, "Method 'PUT /nodes/pve1/qemu/100' not implemented"},
		{"POST", "/nodes/pve1/qemu/100/status/bogus", 501, "Method 'POST /nodes/pve1/qemu/100/status/bogus' not implemented"},
		// The mux would redirect to …/content/, where {volume...} matches.
		{"DELETE", "/nodes/pve1/storage/local/content", 501, "Method 'DELETE /nodes/pve1/storage/local/content' not implemented"},
		// The path is decoded before it is split: an encoded slash does not
		// fit a one-segment wildcard.
		{"GET", "/nodes/pve1/qemu/10%2F0/config", 501, "Method 'GET /nodes/pve1/qemu/10/0/config' not implemented"},
	} {
		tc.check(t, srv, hc)
	}
}

// TestRoutingKeepsPathForms: a trailing slash, a leading "//" and dot
// segments reach their route (and its parameter check) without a
// redirect, and percent-encoded segments arrive decoded.
func TestRoutingKeepsPathForms(t *testing.T) {
	srv := startSim(t, Options{NoTLS: true})
	hc := noRedirects(httpClient(t, srv))
	badVMID := "Parameter verification failed."
	for _, tc := range []wantAnswer{
		{"GET", "/version/", 200, ""},
		{"GET", "//version", 200, ""},
		{"GET", "/nodes/pve1/qemu/", 200, ""},
		{"GET", "/nodes/pve1/qemu/100/config/", 200, ""},
		{"GET", "/nodes/pve1/qemu/%31%30%30/config", 200, ""},
		{"GET", "/nodes/pve1/qemu/./config", 400, badVMID},
		{"GET", "/nodes/pve1/qemu/%2E%2E/config", 400, badVMID},
		{"GET", "/nodes/pve%311/qemu", 500, "hostname lookup 'pve11' failed - failed to get address info for: pve11: Name or service not known"},
		{"GET", "/cluster/ha/resources/vm%3A100", 500, "no such resource 'vm:100'"},
		{"DELETE", "/nodes/pve1/storage/local/content/iso%2Fnope.iso/", 500, "volume 'local:iso/nope.iso' does not exist"},
	} {
		tc.check(t, srv, hc)
	}
}

// TestEncodedVolumeReachesDelete: a volume id sent URL-encoded as one
// segment ("local%3Aiso%2Fvirtio-win.iso") reaches {volume...} decoded.
func TestEncodedVolumeReachesDelete(t *testing.T) {
	srv := startSim(t, Options{NoTLS: true, TaskDuration: time.Hour})
	hc := noRedirects(httpClient(t, srv))
	c := srv.Cluster()
	upid := mustOK(t, srv, hc, "DELETE", "/nodes/pve1/storage/local/content/local%3Aiso%2Fvirtio-win.iso", nil).(string)
	if task, ok := c.Task(upid); !ok || task.Type != "imgdel" || task.ID != "local" {
		t.Fatalf("task %+v", task)
	}
	c.CompleteTasks()
	for _, v := range c.Volumes("pve1", "local") {
		if v.Volid == "local:iso/virtio-win.iso" {
			t.Fatal("virtio-win.iso is still listed")
		}
	}
	r := call(t, srv, hc, "DELETE", "/nodes/pve1/storage/local/content/local%3Aiso%2Fnope.iso", nil)
	if r.Status != 500 || r.Reason != "volume 'local:iso/nope.iso' does not exist" {
		t.Errorf("missing volume: %d %q", r.Status, r.Reason)
	}
}

// TestFaultVMIDOnUnroutedMethod: a known path keeps its {vmid} for fault
// matching when its method has no route, as before the mux.
func TestFaultVMIDOnUnroutedMethod(t *testing.T) {
	srv := startSim(t, Options{NoTLS: true})
	hc := noRedirects(httpClient(t, srv))
	srv.Faults().MustAdd(Fault{VMID: 100, Status: 503, Message: "injected"})
	for _, method := range []string{"PATCH", "HEAD", "GET"} {
		if r := call(t, srv, hc, method, "/nodes/pve1/qemu/100/config", nil); r.Status != 503 || r.Reason != "injected" {
			t.Errorf("%s: %d %q, want the fault", method, r.Status, r.Reason)
		}
	}
	if r := call(t, srv, hc, "GET", "/nodes/pve1/qemu/100/bogus", nil); r.Status != 501 {
		t.Errorf("unknown path: %d %q, want 501", r.Status, r.Reason)
	}
}
