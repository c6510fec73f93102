package proxmoxfake

import (
	"context"
	"fmt"
	"strings"

	"templated/internal/proxmox"
	"templated/internal/state"
)

// CreateGuest creates a stopped QEMU guest without disks on node. As in
// PVE, a VMID already taken anywhere in the cluster fails with
// proxmox.ErrExists and changes nothing; of concurrent creates at one VMID
// exactly one succeeds.
func (c *Cluster) CreateGuest(ctx context.Context, node string, g proxmox.NewGuest) error {
	hook := hookFor(c, func(f Funcs) func(context.Context, string, proxmox.NewGuest) error { return f.CreateGuest },
		func(f func(context.Context, string, proxmox.NewGuest) error) error { return f(ctx, node, g) })
	return c.run(ctx, fmt.Sprintf("create guest %d", g.VMID), fmt.Sprintf("CreateGuest %s %d", node, g.VMID), hook, func() error {
		if g.VMID < 100 || g.VMID > 999999999 {
			return proxmox.NewError(proxmox.ErrInvalid, 0, "VMID %d out of range 100-999999999", g.VMID)
		}
		if !validName(g.Name) {
			return proxmox.NewError(proxmox.ErrInvalid, 0, "invalid guest name %q", g.Name)
		}
		if err := proxmox.ValidateTags(g.Tags); err != nil {
			return err
		}
		if old, ok := c.vms[g.VMID]; ok {
			return proxmox.NewError(proxmox.ErrExists, 500,
				"Proxmox answered 500: unable to create VM %d - VM %d already exists on node '%s'", g.VMID, g.VMID, old.Node)
		}
		v := withDefaults(VM{VMID: g.VMID, Node: node, Name: g.Name, Description: strings.TrimRight(g.Description, " \t\r\n"),
			Tags: g.Tags, Disks: []state.Disk{}})
		c.vms[g.VMID] = &v
		return nil
	})
}

// SetMetaIf is SetMeta applied only if the guest's config digest (as
// GuestConfig reports it) is still digest; otherwise it fails with
// proxmox.ErrModified, as PVE's "checksum mismatch" does.
func (c *Cluster) SetMetaIf(ctx context.Context, node string, vmid int, digest, description string, tags []string) error {
	hook := hookFor(c, func(f Funcs) func(context.Context, string, int, string, string, []string) error { return f.SetMetaIf },
		func(f func(context.Context, string, int, string, string, []string) error) error {
			return f(ctx, node, vmid, digest, description, tags)
		})
	return c.run(ctx, fmt.Sprintf("set meta of %d", vmid), fmt.Sprintf("SetMetaIf %s %d", node, vmid), hook, func() error {
		if digest == "" {
			return proxmox.NewError(proxmox.ErrInvalid, 0, "no config digest to compare with")
		}
		if err := proxmox.ValidateTags(tags); err != nil {
			return err
		}
		v, err := c.get(node, vmid)
		if err != nil {
			return err
		}
		if v.config().Digest != digest {
			return proxmox.NewError(proxmox.ErrModified, 500, "Proxmox answered 500: checksum mismatch (file change by other user?)")
		}
		if v.Lock != "" {
			return locked(v)
		}
		v.Description, v.Tags = strings.TrimRight(description, " \t\n"), state.NormalizeTags(tags)
		return nil
	})
}
