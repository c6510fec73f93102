package proxmoxfake

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"

	"templated/internal/proxmox"
	"templated/internal/state"
)

// run records the call, runs hook (if set) without the lock, checks ctx,
// then runs op holding the lock. Errors are wrapped with what, like
// proxmox.Client wraps them.
func (c *Cluster) run(ctx context.Context, what, call string, hook func() error, op func() error) error {
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	err := ctx.Err()
	if hook != nil {
		err = hook()
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		c.mu.Lock()
		err = op()
		c.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// hookFor returns the hook f picks (nil when unset), bound by call.
func hookFor[F any](c *Cluster, pick func(Funcs) F, call func(F) error) func() error {
	c.mu.Lock()
	f := pick(c.funcs)
	c.mu.Unlock()
	if reflectNil(f) {
		return nil
	}
	return func() error { return call(f) }
}

func notFound(node string, vmid int) error {
	return proxmox.NewError(proxmox.ErrNotFound, 500,
		"Proxmox answered 500: Configuration file 'nodes/%s/qemu-server/%d.conf' does not exist", node, vmid)
}

func locked(v *VM) error {
	return proxmox.NewError(proxmox.ErrLocked, 500, "VM %d is locked (%s); wait for the operation holding the lock to finish", v.VMID, v.Lock)
}

// get returns the qemu guest vmid on node; the caller holds c.mu.
func (c *Cluster) get(node string, vmid int) (*VM, error) {
	v, ok := c.vms[vmid]
	if !ok || v.Node != node || v.Type != "qemu" {
		return nil, notFound(node, vmid)
	}
	return v, nil
}

// taskError is a task that failed as PVE's worker would; c.mu is held.
func (c *Cluster) taskError(node, typ string, vmid int, exit string) error {
	c.tasks++
	upid := fmt.Sprintf("UPID:%s:%08X:00000000:00000000:%s:%d:root@pam!fake:", node, c.tasks, typ, vmid)
	return proxmox.NewTaskError(upid, exit)
}

// ListGuests returns the guests (VMs and containers) sorted by VMID.
func (c *Cluster) ListGuests(ctx context.Context) ([]state.Guest, error) {
	out := []state.Guest{}
	hook := hookFor(c, func(f Funcs) func(context.Context) error { return f.ListGuests },
		func(f func(context.Context) error) error { return f(ctx) })
	err := c.run(ctx, "list guests", "ListGuests", hook, func() error {
		for _, v := range c.vms {
			out = append(out, v.guest())
		}
		slices.SortFunc(out, func(a, b state.Guest) int { return a.VMID - b.VMID })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type vmHook = func(ctx context.Context, node string, vmid int) error

// vmHookFor binds a (node, vmid) hook.
func (c *Cluster) vmHookFor(ctx context.Context, pick func(Funcs) vmHook, node string, vmid int) func() error {
	return hookFor(c, pick, func(f vmHook) error { return f(ctx, node, vmid) })
}

// GuestConfig returns one guest's config.
func (c *Cluster) GuestConfig(ctx context.Context, node string, vmid int) (state.GuestConfig, error) {
	var gc state.GuestConfig
	hook := c.vmHookFor(ctx, func(f Funcs) vmHook { return f.GuestConfig }, node, vmid)
	err := c.run(ctx, fmt.Sprintf("read config of %d", vmid), fmt.Sprintf("GuestConfig %s %d", node, vmid), hook, func() error {
		v, err := c.get(node, vmid)
		if err == nil {
			gc = v.config()
		}
		return err
	})
	return gc, err
}

// SetMeta sets description and tags (tags normalised as PVE does).
func (c *Cluster) SetMeta(ctx context.Context, node string, vmid int, description string, tags []string) error {
	hook := hookFor(c, func(f Funcs) func(context.Context, string, int, string, []string) error { return f.SetMeta },
		func(f func(context.Context, string, int, string, []string) error) error {
			return f(ctx, node, vmid, description, tags)
		})
	return c.run(ctx, fmt.Sprintf("set meta of %d", vmid), fmt.Sprintf("SetMeta %s %d", node, vmid), hook, func() error {
		if err := proxmox.ValidateTags(tags); err != nil {
			return err
		}
		v, err := c.get(node, vmid)
		if err != nil {
			return err
		}
		if v.Lock != "" {
			return locked(v)
		}
		v.Description, v.Tags = strings.TrimRight(description, " \t\n"), state.NormalizeTags(tags)
		return nil
	})
}

// Clone makes a full clone of src at dst, inheriting config, tags and
// description.
func (c *Cluster) Clone(ctx context.Context, node string, src, dst int, name string) error {
	hook := hookFor(c, func(f Funcs) func(context.Context, string, int, int, string) error { return f.Clone },
		func(f func(context.Context, string, int, int, string) error) error {
			return f(ctx, node, src, dst, name)
		})
	return c.run(ctx, fmt.Sprintf("clone %d to %d", src, dst), fmt.Sprintf("Clone %s %d %d", node, src, dst), hook,
		func() error { return c.cloneLocked(node, src, dst, name) })
}

func (c *Cluster) cloneLocked(node string, src, dst int, name string) error {
	if !validName(name) {
		return proxmox.NewError(proxmox.ErrInvalid, 0, "invalid guest name %q", name)
	}
	if dst < 100 || dst > 999999999 {
		return proxmox.NewError(proxmox.ErrInvalid, 0, "VMID %d out of range 100-999999999", dst)
	}
	s, err := c.get(node, src)
	if err != nil {
		return err
	}
	if _, ok := c.vms[dst]; ok {
		return proxmox.NewError(proxmox.ErrExists, 500, "Proxmox answered 500: unable to create VM %d: config file already exists", dst)
	}
	if s.Lock != "" {
		return locked(s)
	}
	v := cloneVM(s, dst, name)
	c.vms[dst] = &v
	return nil
}

// ResizeDisk grows a disk; shrinking is refused as PVE does.
func (c *Cluster) ResizeDisk(ctx context.Context, node string, vmid int, disk string, sizeGB int) error {
	hook := hookFor(c, func(f Funcs) func(context.Context, string, int, string, int) error { return f.ResizeDisk },
		func(f func(context.Context, string, int, string, int) error) error {
			return f(ctx, node, vmid, disk, sizeGB)
		})
	return c.run(ctx, fmt.Sprintf("resize %s of %d", disk, vmid), fmt.Sprintf("ResizeDisk %s %d %s %d", node, vmid, disk, sizeGB), hook,
		func() error {
			v, err := c.get(node, vmid)
			if err != nil {
				return err
			}
			if v.Lock != "" {
				return locked(v)
			}
			for i, d := range v.Disks {
				if d.Key != disk {
					continue
				}
				if float64(sizeGB) < d.SizeGB {
					return proxmox.NewError(proxmox.ErrAPI, 500, "Proxmox answered 500: shrinking disks is not supported")
				}
				v.Disks[i].SizeGB = float64(sizeGB)
				return nil
			}
			return proxmox.NewError(proxmox.ErrAPI, 500, "Proxmox answered 500: disk '%s' does not exist", disk)
		})
}

// ConvertToTemplate turns a stopped, unlocked VM into a template.
func (c *Cluster) ConvertToTemplate(ctx context.Context, node string, vmid int) error {
	hook := c.vmHookFor(ctx, func(f Funcs) vmHook { return f.ConvertToTemplate }, node, vmid)
	return c.run(ctx, fmt.Sprintf("convert %d to template", vmid), fmt.Sprintf("ConvertToTemplate %s %d", node, vmid), hook,
		func() error { return c.convertLocked(node, vmid) })
}

func (c *Cluster) convertLocked(node string, vmid int) error {
	v, err := c.get(node, vmid)
	switch {
	case err != nil:
		return err
	case v.Lock != "":
		return locked(v)
	case v.Template:
		return proxmox.NewError(proxmox.ErrConflict, 500, "Proxmox answered 500: you can't convert a template to a template")
	case v.Running:
		return proxmox.NewError(proxmox.ErrConflict, 500, "Proxmox answered 500: you can't convert a VM to template if VM is running")
	}
	v.Template = true
	for i, d := range v.Disks {
		v.Disks[i].Volume = strings.Replace(d.Volume, fmt.Sprintf(":vm-%d-", vmid), fmt.Sprintf(":base-%d-", vmid), 1)
	}
	return nil
}

// Delete stops a running guest and removes it. A locked guest or a
// template that still has linked clones stays.
func (c *Cluster) Delete(ctx context.Context, node string, vmid int) error {
	hook := c.vmHookFor(ctx, func(f Funcs) vmHook { return f.Delete }, node, vmid)
	return c.run(ctx, fmt.Sprintf("delete %d", vmid), fmt.Sprintf("Delete %s %d", node, vmid), hook,
		func() error { return c.deleteLocked(node, vmid) })
}

func (c *Cluster) deleteLocked(node string, vmid int) error {
	v, err := c.get(node, vmid)
	if err != nil {
		return err
	}
	// PVE checks these in the destroy worker, so they are task failures;
	// a locked guest refuses the stop before them, so it keeps running.
	if v.Lock != "" {
		return c.taskError(node, "qmdestroy", vmid, fmt.Sprintf("VM is locked (%s)", v.Lock))
	}
	if clones := c.linkedLocked(vmid); len(clones) > 0 {
		return c.taskError(node, "qmdestroy", vmid, fmt.Sprintf("base volume '%s' is still in use by linked cloned", v.Disks[0].Volume))
	}
	delete(c.vms, vmid)
	return nil
}

// LinkedClones lists the linked clones of template vmid.
func (c *Cluster) LinkedClones(ctx context.Context, node string, vmid int) ([]int, error) {
	var out []int
	hook := c.vmHookFor(ctx, func(f Funcs) vmHook { return f.LinkedClones }, node, vmid)
	err := c.run(ctx, fmt.Sprintf("linked clones of %d", vmid), fmt.Sprintf("LinkedClones %s %d", node, vmid), hook, func() error {
		v, err := c.get(node, vmid)
		if err == nil && v.Template {
			out = c.linkedLocked(vmid)
		}
		return err
	})
	return out, err
}

func (c *Cluster) linkedLocked(vmid int) []int {
	var out []int
	for id, v := range c.vms {
		if v.LinkedCloneOf == vmid {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Version returns the version set with SetVersion (default "8.4.1").
func (c *Cluster) Version(ctx context.Context) (string, error) {
	var v string
	hook := hookFor(c, func(f Funcs) func(context.Context) error { return f.Version },
		func(f func(context.Context) error) error { return f(ctx) })
	err := c.run(ctx, "read version", "Version", hook, func() error { v = c.version; return nil })
	return v, err
}

// reflectNil reports whether a hook func is unset.
func reflectNil(f any) bool { return f == nil || reflect.ValueOf(f).IsNil() }

// validName is PVE's dns-name check, as proxmox.Client applies it.
func validName(s string) bool { return pxapi.GuestName(s).Validate() == nil }
