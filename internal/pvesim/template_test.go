package pvesim

import (
	"net/url"
	"testing"
)

func TestTemplateConversion(t *testing.T) {
	srv := startSim(t, Options{})
	hc := httpClient(t, srv)
	r := call(t, srv, hc, "POST", "/nodes/pve1/qemu/100/template", nil)
	if r.Status != 500 || r.Reason != "you can't convert a VM to template if VM is running" {
		t.Fatalf("running: %d %q", r.Status, r.Reason)
	}
	r = call(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/template", nil)
	if r.Status != 500 || r.Reason != "you can't convert a template to a template" {
		t.Fatalf("template: %d %q", r.Status, r.Reason)
	}
	upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/clone", url.Values{"newid": {"9000"}, "full": {"1"}}).(string)
	waitTask(t, srv, hc, upid)
	// Add a second disk and an ISO drive by hand.
	if err := srv.Cluster().SetConfig(9000, map[string]string{"scsi1": "local-lvm:vm-9000-disk-1,size=8G",
		"ide0": "local:iso/virtio-win.iso,media=cdrom"}); err != nil {
		t.Fatal(err)
	}
	upid = mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/9000/template", nil).(string)
	if g, _ := srv.Cluster().Guest(9000); g.Template {
		t.Fatal("template flag set before the task ended")
	}
	if exit, running := waitTask(t, srv, hc, upid); exit != "OK" || !running {
		t.Fatalf("template task %q", exit)
	}
	g, _ := srv.Cluster().Guest(9000)
	want := map[string]string{
		"template": "1",
		"scsi0":    "local-lvm:base-9000-disk-0,iothread=1,size=3584M",
		"scsi1":    "local-lvm:base-9000-disk-1,size=8G",
		"ide0":     "local:iso/virtio-win.iso,media=cdrom",
		"ide2":     "local-lvm:vm-9000-cloudinit,media=cdrom,size=4M",
	}
	for k, v := range want {
		if g.Config[k] != v {
			t.Errorf("%s = %q, want %q", k, g.Config[k], v)
		}
	}
	conf := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu/9000/config", nil).(map[string]any)
	if conf["template"] != 1.0 {
		t.Fatalf("config template %v", conf["template"])
	}
	list := mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu", nil).([]any)
	for _, e := range list {
		m := e.(map[string]any)
		switch m["vmid"] {
		case 9000.0:
			if m["template"] != 1.0 {
				t.Errorf("node list entry %v", m)
			}
		case 100.0:
			if _, ok := m["template"]; ok {
				t.Errorf("non-template has template key: %v", m)
			}
		}
	}
	// Starting the template fails inside the task.
	upid = mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/9000/status/start", nil).(string)
	if exit, _ := waitTask(t, srv, hc, upid); exit != "you can't start a vm if it's a template" {
		t.Fatalf("start template: %q", exit)
	}
}
