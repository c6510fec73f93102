package proxmox

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"templated/internal/state"
)

// BaseVM is a template made from a cloud image: the base VM Packer's
// clone builds start from.
type BaseVM struct {
	VMID        int
	Name        string
	Description string
	Tags        []string
	// Storage is where the boot disk and the cloud-init drive go
	// (local-lvm).
	Storage string
	// ImportFrom is the image's volume id
	// ("local:import/noble-server-cloudimg-amd64-3f1c2e44a1b2.qcow2").
	ImportFrom string
	Cores      int    // default 1
	MemoryMiB  int    // default 512
	OSType     string // default l26
	Bridge     string // default vmbr0
}

var (
	// reStorageID is PVE's pve-storage-id format.
	reStorageID = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9\-_.]*[A-Za-z0-9]$`)
	// reVolumeID is "STORAGE:NAME" without what would end a drive option.
	reVolumeID = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9\-_.]*[A-Za-z0-9]:[^,=\s]+$`)
	reBridge   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.\-]{0,14}$`)
	osTypes    = []string{"other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11", "l24", "l26", "solaris"}
)

// WithDefaults fills in the defaults the zero values stand for.
func (b BaseVM) WithDefaults() BaseVM {
	if b.Cores == 0 {
		b.Cores = 1
	}
	if b.MemoryMiB == 0 {
		b.MemoryMiB = 512
	}
	if b.OSType == "" {
		b.OSType = "l26"
	}
	if b.Bridge == "" {
		b.Bridge = "vmbr0"
	}
	return b
}

// Validate refuses what PVE would refuse (and values that would smuggle
// options into a drive or network string), before anything is sent.
// Call it on b.WithDefaults().
func (b BaseVM) Validate() error {
	if err := checkNewGuest(NewGuest{VMID: b.VMID, Name: b.Name, Description: b.Description, Tags: b.Tags}); err != nil {
		return err
	}
	invalid := func(format string, args ...any) error { return NewError(ErrInvalid, 0, format, args...) }
	switch {
	case !reStorageID.MatchString(b.Storage):
		return invalid("invalid storage %q", b.Storage)
	case !reVolumeID.MatchString(b.ImportFrom):
		return invalid("invalid image volume %q: want STORAGE:import/FILE", b.ImportFrom)
	case b.Cores < 1 || b.Cores > 8192:
		return invalid("cores %d out of range 1-8192", b.Cores)
	case b.MemoryMiB < 16:
		return invalid("memory %d MiB below PVE's minimum of 16", b.MemoryMiB)
	case !slices.Contains(osTypes, b.OSType):
		return invalid("unknown ostype %q", b.OSType)
	case !reBridge.MatchString(b.Bridge):
		return invalid("invalid bridge %q", b.Bridge)
	}
	return nil
}

// params is create_vm's parameters for b.
func (b BaseVM) params() map[string]any {
	p := map[string]any{
		"vmid": b.VMID, "name": b.Name, "cores": b.Cores, "sockets": 1, "memory": b.MemoryMiB, "ostype": b.OSType,
		"scsihw":  "virtio-scsi-single",
		"scsi0":   fmt.Sprintf("%s:0,import-from=%s,iothread=1", b.Storage, b.ImportFrom),
		"ide2":    b.Storage + ":cloudinit",
		"serial0": "socket", "vga": "serial0", "agent": "enabled=1", "boot": "order=scsi0",
		"net0": "virtio,bridge=" + b.Bridge,
	}
	if b.Description != "" {
		p["description"] = b.Description
	}
	if t := state.NormalizeTags(b.Tags); len(t) > 0 {
		p["tags"] = strings.Join(t, ";")
	}
	return p
}

// CreateBase makes the base VM b from a cloud image on node: POST
// /nodes/{node}/qemu with the image imported as scsi0 on b.Storage
// (import-from), a cloud-init drive, a serial console, the guest agent
// and net0 on b.Bridge; it waits for the task and converts the VM to a
// template (ConvertToTemplate). A failed create task leaves nothing (PVE
// removes the VM); when the conversion fails, CreateBase deletes the VM
// before it returns the error. The create and the conversion are each
// bounded by Options.TaskTimeout (the import copies the whole image).
//
// Requests: 1 + polls (create), 1 + polls (template).
func (c *Client) CreateBase(ctx context.Context, node string, b BaseVM) error {
	b = b.WithDefaults()
	if err := b.Validate(); err != nil {
		return fmt.Errorf("create base %d: %w", b.VMID, err)
	}
	params := b.params()
	path := "/nodes/" + node + "/qemu"
	cctx, cancel := context.WithTimeout(ctx, c.opts.TaskTimeout)
	err := c.runTask(cctx, node, "POST "+path, func(ctx context.Context) error { return c.api.Post(ctx, params, path) })
	cancel()
	if err != nil {
		return fmt.Errorf("create base %d: %w", b.VMID, err)
	}
	if err := c.ConvertToTemplate(ctx, node, b.VMID); err != nil {
		// Even when ctx is what ended the conversion, the half-made VM
		// goes (Delete has its own deadline).
		if derr := c.Delete(context.WithoutCancel(ctx), node, b.VMID); derr != nil {
			return fmt.Errorf("create base %d: %w; removing the VM failed too: %w", b.VMID, err, derr)
		}
		c.log.WithField("vmid", b.VMID).Warn("base VM removed: it could not be converted to a template")
		return fmt.Errorf("create base %d (removed again): %w", b.VMID, err)
	}
	return nil
}
