package proxmoxfake

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"

	"templated/internal/proxmox"
	"templated/internal/state"
)

// CreateBase makes the base VM b as proxmox.Client.CreateBase does: a
// template whose scsi0 on b.Storage has the image's (virtual) size, with
// a cloud-init drive, a serial console, the agent and net0. The image
// must be a downloaded import volume; a missing one fails the create
// task as PVE's worker does ("unable to create VM N - failed to stat
// '…'") and leaves no guest. A VMID already taken is proxmox.ErrExists.
func (c *Cluster) CreateBase(ctx context.Context, node string, b proxmox.BaseVM) error {
	b = b.WithDefaults()
	hook := hookFor(c, func(f Funcs) func(context.Context, string, proxmox.BaseVM) error { return f.CreateBase },
		func(f func(context.Context, string, proxmox.BaseVM) error) error { return f(ctx, node, b) })
	return c.run(ctx, fmt.Sprintf("create base %d", b.VMID), fmt.Sprintf("CreateBase %s %d", node, b.VMID), hook, func() error {
		if err := b.Validate(); err != nil {
			return err
		}
		if old, ok := c.vms[b.VMID]; ok {
			return proxmox.NewError(proxmox.ErrExists, 500,
				"Proxmox answered 500: unable to create VM %d - VM %d already exists on node '%s'", b.VMID, b.VMID, old.Node)
		}
		sid, name, _ := strings.Cut(b.ImportFrom, ":")
		content, file, _ := strings.Cut(name, "/")
		if content != "import" {
			return proxmox.NewError(proxmox.ErrInvalid, 400,
				"Proxmox answered 400: Parameter verification failed. (scsi0: %s is not an import volume: the fake imports downloaded images only)", b.ImportFrom)
		}
		data, ok := c.isos[b.ImportFrom]
		if !ok {
			return c.taskError(node, "qmcreate", b.VMID, fmt.Sprintf("unable to create VM %d - failed to stat '%s'", b.VMID, pvePath(sid, "import", file)))
		}
		v := withDefaults(VM{VMID: b.VMID, Node: node, Name: b.Name, Description: strings.TrimRight(b.Description, " \t\r\n"),
			Tags: b.Tags, Template: true, Cores: b.Cores, Sockets: 1, MemoryMiB: b.MemoryMiB, Agent: true, CloudInit: true,
			Disks: []state.Disk{{Key: "scsi0", Volume: fmt.Sprintf("%s:base-%d-disk-0", b.Storage, b.VMID), SizeGB: float64(imageSize(data)) / (1 << 30)}},
			Extra: map[string]string{
				"ide2": fmt.Sprintf("%s:vm-%d-cloudinit,media=cdrom", b.Storage, b.VMID), "serial0": "socket", "vga": "serial0",
				"scsihw": "virtio-scsi-single", "ostype": b.OSType, "boot": "order=scsi0",
				"net0": fmt.Sprintf("virtio=BC:24:11:%02X:%02X:%02X,bridge=%s", b.VMID>>16&0xff, b.VMID>>8&0xff, b.VMID&0xff, b.Bridge),
			}})
		c.vms[b.VMID] = &v
		return nil
	})
}

// imageSize is what qemu-img calls an image's virtual size: a QCOW2
// header's size field, else the file's length.
func imageSize(data []byte) int64 {
	if len(data) >= 32 && bytes.Equal(data[:4], []byte{'Q', 'F', 'I', 0xfb}) {
		return int64(binary.BigEndian.Uint64(data[24:32]))
	}
	return int64(len(data))
}
