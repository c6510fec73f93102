package proxmox

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// LinkedClones returns the VMIDs of guests with disks that are linked
// clones of template vmid, sorted.
//
// Requests: 1 + S, where S is the number of storages holding the
// template's disks (usually 1): GET the template's config, then
// GET /nodes/{node}/storage/{storage}/content?content=images per storage.
// A linked clone's volume names its base volume (dir/NFS
// "local:9000/base-9000-disk-0.qcow2/100/vm-100-disk-0.qcow2", ZFS and
// RBD "…:base-9000-disk-0/vm-100-disk-0"), and some storages also report a
// `parent`; either one matching base-{vmid}- counts. LVM-thin keeps no such
// link (PVE allows deleting the base there), so it reports none.
// Reading every guest's config instead would cost one request per guest.
// A guest that is not a template has no linked clones: nil, nil.
func (c *Client) LinkedClones(ctx context.Context, node string, vmid int) ([]int, error) {
	gc, err := c.GuestConfig(ctx, node, vmid)
	if err != nil {
		return nil, fmt.Errorf("linked clones of %d: %w", vmid, err)
	}
	if !gc.Template {
		return nil, nil
	}
	var storages []string
	for _, d := range gc.Disks {
		if s, _, ok := strings.Cut(d.Volume, ":"); ok && !slices.Contains(storages, s) {
			storages = append(storages, s)
		}
	}
	base := regexp.MustCompile(fmt.Sprintf(`(^|[:/])base-%d-`, vmid))
	var out []int
	for _, s := range storages {
		url := fmt.Sprintf("/nodes/%s/storage/%s/content?content=images", node, s)
		items, err := do(ctx, c, c.opts.ReadTimeout, "GET "+url, func(ctx context.Context) ([]any, error) {
			return c.api.GetItemListInterfaceArray(ctx, url)
		})
		if err != nil {
			return nil, fmt.Errorf("linked clones of %d: %w", vmid, err)
		}
		for _, it := range items {
			m, _ := it.(map[string]any)
			owner, ok := num(m["vmid"])
			if !ok || int(owner) == vmid {
				continue
			}
			if base.MatchString(str(m["volid"])) || base.MatchString(str(m["parent"])) {
				out = append(out, int(owner))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
