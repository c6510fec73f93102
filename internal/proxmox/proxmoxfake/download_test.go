package proxmoxfake_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"templated/internal/proxmox"
	"templated/internal/proxmox/proxmoxfake"
)

// TestFakeDownloadOnlyLoopbackAndVersion: the fake fetches from loopback
// addresses only, and takes import content from PVE 8.3 on, as PVE does.
func TestFakeDownloadOnlyLoopbackAndVersion(t *testing.T) {
	c, ctx := proxmoxfake.New(), t.Context()
	tl, err := c.DownloadURL(ctx, "pve", "local", proxmox.Download{Content: "iso", Filename: "x.iso", URL: "https://192.0.2.1/x.iso"})
	if !errors.Is(err, proxmox.ErrTaskFailed) || len(tl.Lines) == 0 || tl.Lines[len(tl.Lines)-1] != "TASK ERROR: download failed: proxmoxfake: refusing to connect to '192.0.2.1': the fake only downloads from loopback addresses" {
		t.Fatalf("remote URL: %v %v", err, tl.Lines)
	}
	c.SetVersion("8.2.7")
	_, err = c.DownloadURL(ctx, "pve", "local", proxmox.Download{Content: "import", Filename: "x.qcow2", URL: "http://127.0.0.1:1/x.qcow2"})
	if !errors.Is(err, proxmox.ErrInvalid) {
		t.Fatalf("import on 8.2: %v", err)
	}
	if !slices.Contains(c.Calls(), "DownloadURL pve local x.qcow2") {
		t.Fatalf("calls %v", c.Calls())
	}
}

// TestFakeImageHooks: DownloadURL and CreateBase hooks fail the call
// before anything happens.
func TestFakeImageHooks(t *testing.T) {
	c, ctx := proxmoxfake.New(), t.Context()
	boom := errors.New("storage offline")
	c.SetFuncs(proxmoxfake.Funcs{
		DownloadURL: func(context.Context, string, string, proxmox.Download) error { return boom },
		CreateBase:  func(context.Context, string, proxmox.BaseVM) error { return boom },
	})
	if _, err := c.DownloadURL(ctx, "pve", "local", proxmox.Download{Content: "iso", Filename: "x.iso", URL: "http://127.0.0.1:1/x.iso"}); !errors.Is(err, boom) {
		t.Fatalf("download: %v", err)
	}
	if err := c.CreateBase(ctx, "pve", proxmox.BaseVM{VMID: 8000, Name: "b", Storage: "local-lvm", ImportFrom: "local:import/x.qcow2"}); !errors.Is(err, boom) {
		t.Fatalf("create base: %v", err)
	}
	if vols, err := c.Volumes(ctx, "pve", "local", "iso"); err != nil || len(vols) != 0 {
		t.Fatalf("volumes %v %v", vols, err)
	}
	if _, ok := c.VM(8000); ok {
		t.Fatal("a failing hook created the base")
	}
}
