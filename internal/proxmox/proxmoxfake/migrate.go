package proxmoxfake

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"templated/internal/proxmox"
)

// defaultNodes are the nodes of a cluster SetNodes was not called on:
// those the proxmoxtest harnesses name (proxmoxtest.OtherNode is "pve2").
var defaultNodes = []string{"pve", "pve2"}

// SetNodes declares the cluster's nodes (replacing the default "pve" and
// "pve2"). A node a guest is on always counts as a node of the cluster.
func (c *Cluster) SetNodes(nodes ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes = slices.Clone(nodes)
}

// hasNodeLocked reports whether node is a node of the cluster; c.mu is
// held.
func (c *Cluster) hasNodeLocked(node string) bool {
	nodes := c.nodes
	if nodes == nil {
		nodes = defaultNodes
	}
	if slices.Contains(nodes, node) {
		return true
	}
	for _, v := range c.vms {
		if v.Node == node {
			return true
		}
	}
	return false
}

// Migrate moves the stopped VM or template vmid from node to target as
// proxmox.Client.Migrate does: its disks' volumes keep their names and
// move to targetStorage ("" keeps each disk's storage; the fake treats
// every storage as local, so every disk moves), the cloud-init drive
// included. It refuses what PVE's migrate_vm refuses, with its messages:
// the parameters proxmox.CheckMigrate refuses, an unknown target ("no
// such cluster node", proxmox.ErrInvalid), a guest not on node
// (proxmox.ErrNotFound), a locked one (proxmox.ErrLocked), a running one
// ("can't migrate running VM without --online", proxmox.ErrConflict). As
// PVE's worker, it fails the task ("migration aborted", through
// proxmox.NewMigrateError) for a linked clone and for a template whose
// base volumes linked clones use, and leaves the guest as it was.
func (c *Cluster) Migrate(ctx context.Context, node string, vmid int, target, targetStorage string) error {
	hook := hookFor(c, func(f Funcs) func(context.Context, string, int, string, string) error { return f.Migrate },
		func(f func(context.Context, string, int, string, string) error) error {
			return f(ctx, node, vmid, target, targetStorage)
		})
	return c.run(ctx, fmt.Sprintf("migrate %d to %s", vmid, target), fmt.Sprintf("Migrate %s %d %s %s", node, vmid, target, targetStorage), hook,
		func() error { return c.migrateLocked(node, vmid, target, targetStorage) })
}

func (c *Cluster) migrateLocked(node string, vmid int, target, targetStorage string) error {
	if err := proxmox.CheckMigrate(node, vmid, target, targetStorage); err != nil {
		return err
	}
	if !c.hasNodeLocked(target) {
		return proxmox.NewError(proxmox.ErrInvalid, 500, "Proxmox answered 500: no such cluster node '%s'", target)
	}
	v, err := c.get(node, vmid)
	switch {
	case err != nil:
		return err
	case v.Lock != "":
		return locked(v)
	case v.Running:
		return proxmox.NewError(proxmox.ErrConflict, 500, "Proxmox answered 500: can't migrate running VM without --online")
	}
	if lines := c.migrationRefusedLocked(v, target); lines != nil {
		c.tasks++
		upid := fmt.Sprintf("UPID:%s:%08X:00000000:00000000:qmigrate:%d:root@pam!fake:", node, c.tasks, vmid)
		return proxmox.NewMigrateError(upid, "migration aborted", lines)
	}
	if targetStorage != "" {
		moveVolumes(v, targetStorage)
	}
	v.Node = target
	return nil
}

// migrationRefusedLocked is the log of a migration QemuMigrate's
// scan_local_volumes refuses, nil if it does not; c.mu is held.
func (c *Cluster) migrationRefusedLocked(v *VM, target string) []string {
	var warn []string
	var cause string
	if v.LinkedCloneOf != 0 && len(v.Disks) > 0 {
		base, _, _ := strings.Cut(v.Disks[0].Volume, "/")
		_, baseName, _ := strings.Cut(base, ":")
		cause = fmt.Sprintf("can't migrate '%s' as it's a clone of '%s'", v.Disks[0].Volume, baseName)
	} else if v.Template && len(c.linkedLocked(v.VMID)) > 0 {
		for _, d := range v.Disks {
			warn = append(warn, fmt.Sprintf("can't migrate local disk '%s': referenced by linked clone(s)", d.Volume))
		}
		cause = "can't migrate VM - check log"
	} else {
		return nil
	}
	stamp := time.Now().Format("2006-01-02 15:04:05")
	err := "Problem found while scanning volumes - " + cause
	lines := []string{fmt.Sprintf("%s starting migration of VM %d to node '%s'", stamp, v.VMID, target)}
	for _, w := range warn {
		lines = append(lines, stamp+" "+w)
	}
	return append(lines, stamp+" ERROR: "+err, stamp+" aborting phase 1 - cleanup resources",
		stamp+" ERROR: migration aborted (duration 00:00:00): "+err, "TASK ERROR: migration aborted")
}

// reDiskKey are the config keys that hold volumes.
var reDiskKey = regexp.MustCompile(`^(ide|sata|scsi|virtio|efidisk|tpmstate|unused)\d+$`)

// moveVolumes puts v's volumes (its disks, its cloud-init drive and the
// volumes it owns among Extra's disk keys) on storage, under the same
// names, as storage_migrate does between storages of one type.
func moveVolumes(v *VM, storage string) {
	for i, d := range v.Disks {
		v.Disks[i].Volume = onStorage(d.Volume, storage)
	}
	if v.CloudInit {
		if _, ok := v.Extra["ide2"]; !ok {
			if v.Extra == nil {
				v.Extra = map[string]string{}
			}
			v.Extra["ide2"] = fmt.Sprintf("%s:vm-%d-cloudinit,media=cdrom", storage, v.VMID)
		}
	}
	owned := regexp.MustCompile(fmt.Sprintf(`^[^:]+:(vm|base)-%d-`, v.VMID))
	for k, val := range v.Extra {
		if reDiskKey.MatchString(k) && owned.MatchString(val) {
			v.Extra[k] = onStorage(val, storage)
		}
	}
}

// onStorage is volid (or a drive string starting with one) on storage.
func onStorage(volid, storage string) string {
	_, rest, ok := strings.Cut(volid, ":")
	if !ok {
		return volid
	}
	return storage + ":" + rest
}
