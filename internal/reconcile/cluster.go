package reconcile

import (
	"context"

	"templated/internal/state"
)

// Cluster is what templated needs from Proxmox. Implementations:
// proxmox.Client (the real API through proxmox-api-go) and
// proxmoxfake.Cluster (in memory). Every method waits for the PVE task it
// starts and returns a *state.TaskError when the task fails.
type Cluster interface {
	// ListGuests lists every guest of the cluster, QEMU VMs and LXC
	// containers alike (Guest.Type tells them apart: a VMID is unique across
	// both), with one request: GET /cluster/resources?type=vm.
	ListGuests(ctx context.Context) ([]state.Guest, error)
	// GuestConfig reads one guest's config.
	GuestConfig(ctx context.Context, node string, vmid int) (state.GuestConfig, error)
	// SetMeta sets a guest's description and tags.
	SetMeta(ctx context.Context, node string, vmid int, description string, tags []string) error
	// Clone makes a full clone of src at dst on the same node, named name.
	Clone(ctx context.Context, node string, src, dst int, name string) error
	// ResizeDisk grows a VM's disk (for example "scsi0") to sizeGB GiB;
	// PVE refuses to shrink one.
	ResizeDisk(ctx context.Context, node string, vmid int, disk string, sizeGB int) error
	// ConvertToTemplate turns a stopped VM into a template.
	ConvertToTemplate(ctx context.Context, node string, vmid int) error
	// Delete removes a guest and its disks; a running guest is stopped first.
	Delete(ctx context.Context, node string, vmid int) error
	// LinkedClones returns the VMIDs of guests whose disks are linked
	// clones of template vmid.
	LinkedClones(ctx context.Context, node string, vmid int) ([]int, error)
	// Version returns the PVE version ("8.4.1").
	Version(ctx context.Context) (string, error)
}
