package pvesim

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestCreateLocksBeforeTheWorker: POST /nodes/{node}/qemu takes the VMID
// at once (a second create fails with "already exists") but, as
// qemu-server's create_and_lock_config, the config is only "lock: create"
// until the qmcreate worker has written it.
func TestCreateLocksBeforeTheWorker(t *testing.T) {
	srv := startSim(t, Options{TaskDuration: time.Hour})
	hc := httpClient(t, srv)
	c := srv.Cluster()
	params := url.Values{"vmid": {"9949"}, "name": {"templated-lease"}, "description": {"holder a"}, "tags": {"templated-lease"}}
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu", params).(string)
	conf := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/9949/config", nil).(map[string]any)
	if len(conf) != 2 || conf["lock"] != "create" || conf["digest"] == nil {
		t.Fatalf("config while the create task runs: %v, want only lock create and the digest", conf)
	}
	r := call(t, srv, hc, "POST", "/nodes/pve1/qemu", url.Values{"vmid": {"9949"}, "name": {"other"}})
	if r.Status != 500 || !strings.Contains(r.Reason, "VM 9949 already exists on node 'pve1'") {
		t.Fatalf("second create: %d %q", r.Status, r.Reason)
	}
	c.CompleteTasks()
	if task, _ := c.Task(upid); task.ExitStatus != "OK" {
		t.Fatalf("create task: %+v", task)
	}
	conf = mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/9949/config", nil).(map[string]any)
	if conf["lock"] != nil || conf["name"] != "templated-lease" || conf["description"] != "holder a" || conf["tags"] != "templated-lease" {
		t.Fatalf("config after the create task: %v", conf)
	}
}
