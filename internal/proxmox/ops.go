package proxmox

import (
	"context"
	"fmt"
	"strings"

	"templated/internal/state"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"
)

func qemuPath(node string, vmid int) string { return fmt.Sprintf("/nodes/%s/qemu/%d", node, vmid) }

// SetMeta sets description and tags (PUT /nodes/{node}/qemu/{vmid}/config,
// synchronous). Empty values are deleted. Tags are normalised as PVE
// stores them; an invalid tag fails before anything is sent.
func (c *Client) SetMeta(ctx context.Context, node string, vmid int, description string, tags []string) error {
	return c.setMeta(ctx, node, vmid, "", description, tags)
}

// setMeta is SetMeta, sent with digest when it is not empty.
func (c *Client) setMeta(ctx context.Context, node string, vmid int, digest, description string, tags []string) error {
	if err := ValidateTags(tags); err != nil {
		return fmt.Errorf("set meta of %d: %w", vmid, err)
	}
	params := map[string]any{}
	var del []string
	if description != "" {
		params["description"] = description
	} else {
		del = append(del, "description")
	}
	if t := state.NormalizeTags(tags); len(t) > 0 {
		params["tags"] = strings.Join(t, ";")
	} else {
		del = append(del, "tags")
	}
	if len(del) > 0 {
		params["delete"] = strings.Join(del, ",")
	}
	if digest != "" {
		params["digest"] = digest
	}
	url := qemuPath(node, vmid) + "/config"
	ctx, cancel := context.WithTimeout(ctx, c.opts.TaskTimeout)
	defer cancel()
	if err := c.runMaybeTask(ctx, node, "PUT "+url, func(ctx context.Context) error { return c.api.Put(ctx, params, url) }); err != nil {
		return fmt.Errorf("set meta of %d: %w", vmid, err)
	}
	return nil
}

// Clone makes a full clone of src at dst on node, named name
// (POST /nodes/{node}/qemu/{src}/clone full=1), and waits for the task.
// The clone inherits the source's tags and description, as in PVE.
func (c *Client) Clone(ctx context.Context, node string, src, dst int, name string) error {
	if err := pxapi.GuestName(name).Validate(); err != nil {
		return fmt.Errorf("clone %d to %d: %w", src, dst, NewError(ErrInvalid, 0, "invalid guest name %q: %v", name, err))
	}
	if dst < 100 || dst > 999999999 {
		return fmt.Errorf("clone %d to %d: %w", src, dst, NewError(ErrInvalid, 0, "VMID %d out of range 100-999999999", dst))
	}
	params := map[string]any{"newid": dst, "name": name, "full": true, "target": node}
	url := qemuPath(node, src) + "/clone"
	ctx, cancel := context.WithTimeout(ctx, c.opts.TaskTimeout)
	defer cancel()
	err := c.runTask(ctx, node, "POST "+url, func(ctx context.Context) error { return c.api.Post(ctx, params, url) })
	if err != nil {
		return fmt.Errorf("clone %d to %d: %w", src, dst, err)
	}
	return nil
}

// ConvertToTemplate turns a stopped VM into a template
// (POST /nodes/{node}/qemu/{vmid}/template) and waits for the task.
func (c *Client) ConvertToTemplate(ctx context.Context, node string, vmid int) error {
	url := qemuPath(node, vmid) + "/template"
	ctx, cancel := context.WithTimeout(ctx, c.opts.TaskTimeout)
	defer cancel()
	err := c.runTask(ctx, node, "POST "+url, func(ctx context.Context) error { return c.api.Post(ctx, nil, url) })
	if err != nil {
		return fmt.Errorf("convert %d to template: %w", vmid, err)
	}
	return nil
}

// ResizeDisk grows disk of vmid to sizeGB GiB: PUT …/resize, which
// answers with a task on current PVE (and null on old releases).
func (c *Client) ResizeDisk(ctx context.Context, node string, vmid int, disk string, sizeGB int) error {
	url := qemuPath(node, vmid) + "/resize"
	params := map[string]any{"disk": disk, "size": fmt.Sprintf("%dG", sizeGB)}
	ctx, cancel := context.WithTimeout(ctx, c.opts.TaskTimeout)
	defer cancel()
	if err := c.runMaybeTask(ctx, node, "PUT "+url, func(ctx context.Context) error { return c.api.Put(ctx, params, url) }); err != nil {
		return fmt.Errorf("resize %s of %d to %dG: %w", disk, vmid, sizeGB, err)
	}
	return nil
}

// Delete removes a guest and its disks: GET status/current; if it runs,
// POST status/stop and wait; then DELETE /nodes/{node}/qemu/{vmid} and wait.
// No purge: the VMID stays in backup jobs and HA, because templated puts
// a new template at the same VMID.
func (c *Client) Delete(ctx context.Context, node string, vmid int) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.TaskTimeout)
	defer cancel()
	if err := c.stopIfRunning(ctx, node, vmid); err != nil {
		return fmt.Errorf("delete %d: %w", vmid, err)
	}
	url := qemuPath(node, vmid)
	err := c.runTask(ctx, node, "DELETE "+url, func(ctx context.Context) error { return c.api.Delete(ctx, url) })
	if err != nil {
		return fmt.Errorf("delete %d: %w", vmid, err)
	}
	return nil
}

func (c *Client) stopIfRunning(ctx context.Context, node string, vmid int) error {
	op := "GET " + qemuPath(node, vmid) + "/status/current"
	st, err := do(ctx, c, c.opts.ReadTimeout, op, func(ctx context.Context) (map[string]any, error) {
		return c.api.GetVmState(ctx, vmRef(node, vmid))
	})
	if err != nil {
		return err
	}
	if s := str(st["status"]); s == "stopped" {
		return nil
	}
	url := qemuPath(node, vmid) + "/status/stop"
	if err := c.runTask(ctx, node, "POST "+url, func(ctx context.Context) error { return c.api.Post(ctx, nil, url) }); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return nil
}
