package session

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"templated/internal/proxmox"
	"templated/internal/reconcile"
	"templated/internal/state"
)

// imageCluster is what making images present needs from the cluster
// client (proxmox.Client and proxmoxfake.Cluster).
type imageCluster interface {
	Volumes(ctx context.Context, node, storage, content string) ([]string, error)
	DownloadURL(ctx context.Context, node, storage string, d proxmox.Download) (proxmox.TaskLog, error)
	CreateBase(ctx context.Context, node string, b proxmox.BaseVM) error
	DeleteVolume(ctx context.Context, node, storage, volid string) error
}

// imageStore is the executor's reconcile.ImageStore over the cluster
// client: Proxmox's own download-url, so that the node fetches the image
// and verifies its checksum, and create with import-from for base VMs.
type imageStore struct {
	c imageCluster
}

var _ reconcile.ImageStore = imageStore{}

// newImageStore returns the image store of cluster, or nil when the
// client cannot make images present.
func newImageStore(cluster reconcile.Cluster) reconcile.ImageStore {
	if c, ok := cluster.(imageCluster); ok {
		return imageStore{c: c}
	}
	return nil
}

func (s imageStore) Volumes(ctx context.Context, node, storage, content string) ([]string, error) {
	return s.c.Volumes(ctx, node, storage, content)
}

func (s imageStore) Download(ctx context.Context, node string, r state.ResolvedImage) ([]string, error) {
	url := r.FetchURL
	if url == "" {
		url = r.URL
	}
	log, err := s.c.DownloadURL(ctx, node, r.Storage, proxmox.Download{Content: r.Content(), Filename: r.VolumeFile(),
		URL: url, Checksum: r.Digest(), Algorithm: r.Algorithm()})
	lines := log.Lines
	if log.UPID != "" {
		lines = append([]string{"task " + log.UPID}, lines...)
	}
	if errors.Is(err, proxmox.ErrExists) {
		// The file appeared since HasImage looked (a download an
		// interrupted run started finished meanwhile). Its name carries
		// the digest, so it is the image.
		return lines, nil
	}
	return lines, err
}

func (s imageStore) CreateBase(ctx context.Context, node string, vmid int, storage string, r state.ResolvedImage, st state.Stamp) error {
	if r.Kind != state.ImageCloud {
		return fmt.Errorf("image %s is an %s, not a cloud image", r.Name, r.Kind)
	}
	return s.c.CreateBase(ctx, node, proxmox.BaseVM{VMID: vmid, Name: r.BaseName(), Description: st.Description(),
		Tags: st.Tags(), Storage: storage, ImportFrom: r.VolumeID()})
}

func (s imageStore) DeleteVolume(ctx context.Context, node, volid string) error {
	storage, _, ok := strings.Cut(volid, ":")
	if !ok || storage == "" {
		return fmt.Errorf("delete volume %q: not STORAGE:NAME", volid)
	}
	return s.c.DeleteVolume(ctx, node, storage, volid)
}
