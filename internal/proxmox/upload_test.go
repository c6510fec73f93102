package proxmox_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"testing/iotest"

	"templated/internal/proxmox"
	"templated/internal/proxmox/proxmoxtest"
	"templated/internal/pvesim"
	"templated/internal/state"
)

// TestUploadISOAndDeleteVolume: an ISO goes up as PVE's multipart upload
// and waits for its imgcopy task; requests after it are plain again (the
// simulator answers a multipart Content-Type elsewhere with PVE's 506);
// DeleteVolume removes it.
func TestUploadISOAndDeleteVolume(t *testing.T) {
	h := proxmoxtest.NewSimHarness(t, proxmoxtest.SimOptions{TLS: true})
	h.AddVM(t, proxmoxtest.VM{VMID: 9900, Name: "staging"})
	c, ctx, sim := h.Client, t.Context(), h.Server.Cluster()
	data := bytes.Repeat([]byte("answer"), 70000)
	if err := c.UploadISO(ctx, "pve", "local", "templated-answers-1.iso", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	vol := findVolume(sim, "local:iso/templated-answers-1.iso")
	if vol == nil || vol.Size != int64(len(data)) {
		t.Fatalf("after the upload: %+v, want local:iso/templated-answers-1.iso of %d bytes", vol, len(data))
	}
	var upload *pvesim.Request
	for _, r := range h.Server.Requests() {
		if r.Method == "POST" && r.Path == "/nodes/pve/storage/local/upload" {
			upload = &r
		}
	}
	if upload == nil || upload.Form.Get("content") != "iso" || upload.Status != 200 {
		t.Fatalf("upload request: %+v", upload)
	}
	for _, tk := range sim.Tasks() {
		if tk.Type == "imgcopy" && tk.Status != "stopped" {
			t.Fatalf("UploadISO returned before its task ended: %+v", tk)
		}
	}
	if err := c.SetMeta(ctx, "pve", 9900, "after the upload", []string{"x"}); err != nil {
		t.Fatalf("a request after the upload: %v", err)
	}
	if err := c.DeleteVolume(ctx, "pve", "local", "local:iso/templated-answers-1.iso"); err != nil {
		t.Fatal(err)
	}
	if v := findVolume(sim, "local:iso/templated-answers-1.iso"); v != nil {
		t.Fatal("volume still there after DeleteVolume")
	}
	err := c.DeleteVolume(ctx, "pve", "local", "local:iso/templated-answers-1.iso")
	if !errors.Is(err, proxmox.ErrNotFound) || !strings.Contains(err.Error(), "delete volume local:iso/templated-answers-1.iso") {
		t.Fatalf("second delete: %v", err)
	}
}

func findVolume(c *pvesim.Cluster, volid string) *pvesim.Volume {
	for _, v := range c.Volumes("pve", "local") {
		if v.Volid == volid {
			return &v
		}
	}
	return nil
}

func TestUploadISOFailures(t *testing.T) {
	h := proxmoxtest.NewSimHarness(t, proxmoxtest.SimOptions{})
	c, ctx := h.Client, t.Context()
	up := func(storage, name string, data []byte, size int64) error {
		return returns(t, func() error {
			return c.UploadISO(ctx, "pve", storage, name, bytes.NewReader(data), size)
		})
	}
	if err := up("local", "../x.iso", []byte("x"), 1); !errors.Is(err, proxmox.ErrInvalid) {
		t.Errorf("bad name: %v", err)
	}
	if err := up("local-lvm", "a.iso", []byte("x"), 1); err == nil || !strings.Contains(err.Error(), "does not support 'iso' content") {
		t.Errorf("storage without iso content: %v", err)
	}
	if err := up("local", "short.iso", []byte("xy"), 10); err == nil || !strings.Contains(err.Error(), "read the ISO: unexpected EOF") {
		t.Errorf("a reader shorter than size: %v", err)
	}
	err := returns(t, func() error {
		return c.UploadISO(ctx, "pve", "local", "broken.iso", iotest.ErrReader(errors.New("disk gone")), 10)
	})
	if err == nil || !strings.Contains(err.Error(), "upload broken.iso to local: read the ISO: disk gone") {
		t.Errorf("failing reader: %v", err)
	}
	h.Server.Faults().MustAdd(pvesim.Fault{Method: "POST", Path: "/nodes/*/storage/*/upload", TaskExit: "copy failed: no space left on device"})
	err = up("local", "full.iso", []byte("x"), 1)
	var te *state.TaskError
	if !errors.As(err, &te) || te.ExitStatus != "copy failed: no space left on device" || !strings.Contains(err.Error(), "upload full.iso to local") {
		t.Errorf("failed imgcopy task: %v", err)
	}
	for _, r := range h.Server.Requests() {
		if r.Status == 0 {
			continue
		}
		if strings.Contains(r.Form.Encode(), h.Server.TokenSecret()) {
			t.Fatalf("secret in a request form: %+v", r)
		}
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.UploadISO(ctx2, "pve", "local", "late.iso", bytes.NewReader([]byte("x")), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
}
