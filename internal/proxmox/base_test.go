package proxmox_test

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"templated/internal/proxmox"
	"templated/internal/proxmox/proxmoxtest"
	"templated/internal/pvesim"
	"templated/internal/state"
)

// downloadBaseImage puts a 1 GiB cloud image at local:import/a.qcow2.
func downloadBaseImage(t *testing.T, h *proxmoxtest.SimHarness) string {
	t.Helper()
	img := proxmoxtest.QCOW2(1 << 30)
	u := serveFile(t, "a.qcow2", img, false)
	if _, err := h.Client.DownloadURL(t.Context(), "pve", "local", proxmox.Download{Content: "import", Filename: "a.qcow2", URL: u,
		Checksum: hexSHA256(img), Algorithm: "sha256"}); err != nil {
		t.Fatal(err)
	}
	return "local:import/a.qcow2"
}

// TestCreateBaseRequest: the create parameters, then the template
// conversion.
func TestCreateBaseRequest(t *testing.T) {
	h := proxmoxtest.NewSimHarness(t, proxmoxtest.SimOptions{})
	volid := downloadBaseImage(t, h)
	err := h.Client.CreateBase(t.Context(), "pve", proxmox.BaseVM{VMID: 8000, Name: "base-a", Description: "from a", Tags: []string{"B", "a"},
		Storage: "local-lvm", ImportFrom: volid, Cores: 2, MemoryMiB: 1024, OSType: "l26", Bridge: "vmbr1"})
	if err != nil {
		t.Fatal(err)
	}
	var create map[string]string
	var paths []string
	for _, r := range h.Server.Requests() {
		if r.Method != "POST" {
			continue
		}
		paths = append(paths, r.Path)
		if r.Path == "/nodes/pve/qemu" {
			create = map[string]string{}
			for _, k := range r.FormKeys {
				create[k] = r.Form.Get(k)
			}
		}
	}
	want := map[string]string{"vmid": "8000", "name": "base-a", "description": "from a", "tags": "a;b", "cores": "2", "sockets": "1",
		"memory": "1024", "ostype": "l26", "scsihw": "virtio-scsi-single", "scsi0": "local-lvm:0,import-from=local:import/a.qcow2,iothread=1",
		"ide2": "local-lvm:cloudinit", "serial0": "socket", "vga": "serial0", "agent": "enabled=1", "boot": "order=scsi0",
		"net0": "virtio,bridge=vmbr1"}
	if !maps.Equal(create, want) {
		t.Errorf("create parameters\n got %v\nwant %v", create, want)
	}
	if len(paths) != 3 || paths[2] != "/nodes/pve/qemu/8000/template" {
		t.Errorf("POSTs %v, want download-url, qemu, template", paths)
	}
}

// TestCreateBaseConvertFails: a base VM that cannot become a template is
// removed again.
func TestCreateBaseConvertFails(t *testing.T) {
	h := proxmoxtest.NewSimHarness(t, proxmoxtest.SimOptions{})
	volid := downloadBaseImage(t, h)
	h.Server.Faults().MustAdd(pvesim.Fault{Method: "POST", Path: "/nodes/*/qemu/*/template", TaskExit: "lvrename failed: device busy"})
	err := h.Client.CreateBase(t.Context(), "pve", proxmox.BaseVM{VMID: 8000, Name: "base-a", Storage: "local-lvm", ImportFrom: volid})
	var te *state.TaskError
	if !errors.As(err, &te) || te.ExitStatus != "lvrename failed: device busy" || !strings.HasPrefix(err.Error(), "create base 8000 (removed again): convert 8000 to template: ") {
		t.Fatalf("err = %v", err)
	}
	if _, ok := h.Server.Cluster().Guest(8000); ok {
		t.Fatal("the base VM that failed to convert is still there")
	}
}

func TestBaseVMValidate(t *testing.T) {
	ok := proxmox.BaseVM{VMID: 8000, Name: "base", Storage: "local-lvm", ImportFrom: "local:import/a.qcow2"}.WithDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*proxmox.BaseVM){
		"vmid":       func(b *proxmox.BaseVM) { b.VMID = 99 },
		"storage":    func(b *proxmox.BaseVM) { b.Storage = "local-lvm,x" },
		"no image":   func(b *proxmox.BaseVM) { b.ImportFrom = "" },
		"image path": func(b *proxmox.BaseVM) { b.ImportFrom = "/var/lib/vz/import/a.qcow2" },
		"cores":      func(b *proxmox.BaseVM) { b.Cores = -1 },
		"memory":     func(b *proxmox.BaseVM) { b.MemoryMiB = 8 },
		"ostype":     func(b *proxmox.BaseVM) { b.OSType = "linux" },
		"bridge":     func(b *proxmox.BaseVM) { b.Bridge = "vmbr0 tag=5" },
		"tag":        func(b *proxmox.BaseVM) { b.Tags = []string{"a/b"} },
	} {
		b := ok
		edit(&b)
		if err := b.Validate(); !errors.Is(err, proxmox.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
