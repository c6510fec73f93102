package proxmoxfake

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"

	"templated/internal/proxmox"
)

// UploadISO stores size bytes from r as "<storage>:iso/<filename>", as
// proxmox.Client.UploadISO does; reading fewer than size bytes fails.
func (c *Cluster) UploadISO(ctx context.Context, node, storage, filename string, r io.Reader, size int64) error {
	data, err := io.ReadAll(io.LimitReader(r, size))
	if err == nil && int64(len(data)) != size {
		err = fmt.Errorf("read %d of %d bytes: %w", len(data), size, io.ErrUnexpectedEOF)
	}
	what := fmt.Sprintf("upload %s to %s", filename, storage)
	return c.run(ctx, what, fmt.Sprintf("UploadISO %s %s %s", node, storage, filename), nil, func() error {
		if err != nil {
			return err
		}
		c.isos[storage+":iso/"+filename] = data
		return nil
	})
}

// DeleteVolume removes an uploaded ISO, as proxmox.Client.DeleteVolume
// does; an unknown volume is ErrNotFound.
func (c *Cluster) DeleteVolume(ctx context.Context, node, storage, volid string) error {
	return c.run(ctx, "delete volume "+volid, fmt.Sprintf("DeleteVolume %s %s %s", node, storage, volid), nil, func() error {
		if _, ok := c.isos[volid]; !ok {
			return proxmox.NewError(proxmox.ErrNotFound, 500, "Proxmox answered 500: volume '%s' does not exist", volid)
		}
		delete(c.isos, volid)
		return nil
	})
}

// ISOs returns the uploaded ISOs and downloaded files still stored, by
// volume id.
func (c *Cluster) ISOs() map[string][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.isos)
}

// ISOVolids returns the volume ids of the stored ISOs, sorted.
func (c *Cluster) ISOVolids() []string {
	return slices.Sorted(maps.Keys(c.ISOs()))
}
