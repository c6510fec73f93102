package proxmox

import (
	"context"
	"fmt"
	"strings"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"

	"templated/internal/state"
)

// NewGuest is a QEMU guest without disks, as CreateGuest makes it.
type NewGuest struct {
	VMID        int
	Name        string
	Description string
	Tags        []string
}

// CreateGuest creates a stopped QEMU guest without disks
// (POST /nodes/{node}/qemu with vmid, name, description and tags; no
// start) and waits for the task.
//
// PVE takes the VMID atomically across the cluster (qemu-server's
// create_vm calls create_and_lock_config before forking its worker: under
// the node's flock on /var/lock/qemu-server/lock-VMID.conf it checks the
// cluster's VM list and writes a config holding only "lock: create";
// pmxcfs refuses a VM config whose VMID another node has). So of two
// concurrent creates at one VMID exactly one succeeds; the other fails
// with ErrExists ("unable to create VM 9949 - VM 9949 already exists on
// node 'pve'") and changes nothing. Until the task ends, the new guest's
// config is just that lock. A failed task removes the config again.
func (c *Client) CreateGuest(ctx context.Context, node string, g NewGuest) error {
	if err := checkNewGuest(g); err != nil {
		return fmt.Errorf("create guest %d: %w", g.VMID, err)
	}
	params := map[string]any{"vmid": g.VMID, "name": g.Name}
	if g.Description != "" {
		params["description"] = g.Description
	}
	if t := state.NormalizeTags(g.Tags); len(t) > 0 {
		params["tags"] = strings.Join(t, ";")
	}
	url := "/nodes/" + node + "/qemu"
	ctx, cancel := context.WithTimeout(ctx, c.opts.TaskTimeout)
	defer cancel()
	if err := c.runTask(ctx, node, "POST "+url, func(ctx context.Context) error { return c.api.Post(ctx, params, url) }); err != nil {
		return fmt.Errorf("create guest %d: %w", g.VMID, err)
	}
	return nil
}

// checkNewGuest refuses what PVE would refuse, before anything is sent.
func checkNewGuest(g NewGuest) error {
	if g.VMID < 100 || g.VMID > 999999999 {
		return NewError(ErrInvalid, 0, "VMID %d out of range 100-999999999", g.VMID)
	}
	if err := pxapi.GuestName(g.Name).Validate(); err != nil {
		return NewError(ErrInvalid, 0, "invalid guest name %q: %v", g.Name, err)
	}
	return ValidateTags(g.Tags)
}

// SetMetaIf is SetMeta as a compare-and-swap: PVE applies it only if the
// guest's config still has digest (GuestConfig's Digest), under the
// guest's config lock on its node (qemu-server's update_vm_api: "checksum
// mismatch (file change by other user?)"). A changed config gives an error
// matching ErrModified and changes nothing. The digest covers the whole
// config, so any change since the read (not only description and tags)
// makes the swap fail. An empty digest is refused: that would be SetMeta.
func (c *Client) SetMetaIf(ctx context.Context, node string, vmid int, digest, description string, tags []string) error {
	if digest == "" {
		return fmt.Errorf("set meta of %d: %w", vmid, NewError(ErrInvalid, 0, "no config digest to compare with"))
	}
	return c.setMeta(ctx, node, vmid, digest, description, tags)
}
