package proxmoxfake_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"templated/internal/proxmox"
	"templated/internal/proxmox/proxmoxfake"
)

func TestFakeUploadISO(t *testing.T) {
	c, ctx := proxmoxfake.New(), t.Context()
	if err := c.UploadISO(ctx, "pve", "local", "a.iso", bytes.NewReader([]byte("abcdef")), 6); err != nil {
		t.Fatal(err)
	}
	if err := c.UploadISO(ctx, "pve", "local", "short.iso", bytes.NewReader([]byte("ab")), 6); err == nil {
		t.Error("short reader accepted")
	}
	if got := c.ISOs()["local:iso/a.iso"]; string(got) != "abcdef" || !slices.Equal(c.ISOVolids(), []string{"local:iso/a.iso"}) {
		t.Fatalf("ISOs = %v", c.ISOVolids())
	}
	if err := c.DeleteVolume(ctx, "pve", "local", "local:iso/a.iso"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteVolume(ctx, "pve", "local", "local:iso/a.iso"); !errors.Is(err, proxmox.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if len(c.ISOs()) != 0 || !slices.Contains(c.Calls(), "DeleteVolume pve local local:iso/a.iso") {
		t.Fatalf("after delete: %v, calls %v", c.ISOVolids(), c.Calls())
	}
}
