package reconcile

import (
	"context"

	"templated/internal/state"
)

// ImageStore makes desired images present on the cluster. Implementation:
// session's adapter over proxmox.Client; tests use proxmoxfake through the
// same adapter.
type ImageStore interface {
	// HasImage reports whether r's volume (r.VolumeID) is on node.
	HasImage(ctx context.Context, node string, r state.ResolvedImage) (bool, error)
	// Download has node download r into its storage, verifying r's
	// checksum, and waits for the task. The task's log is returned also
	// when the task failed.
	Download(ctx context.Context, node string, r state.ResolvedImage) ([]string, error)
	// CreateBase makes the base VM for cloud image r at vmid on node
	// (boot disk imported from r's volume onto storage), named
	// r.BaseName(), stamped with s, converted to a template.
	CreateBase(ctx context.Context, node string, vmid int, storage string, r state.ResolvedImage, s state.Stamp) error
	// DeleteVolume removes a volume templated downloaded.
	DeleteVolume(ctx context.Context, node, volid string) error
}
