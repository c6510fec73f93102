package session

import (
	"context"
	"fmt"
	"time"

	"templated/internal/ancestry"
	"templated/internal/state"
)

// Clones works out, per desired template, the guests cloned from its
// current build and from older builds (the stamp they inherited), and the
// linked clones whose stamp is gone. It reads the guest list once, and
// the volume lists of the storages that hold each template's disks (the
// linked clones: one request per storage and template, not per guest).
// It never acts on a clone.
func (sess *Session) Clones(ctx context.Context, d *state.Desired) ([]ancestry.Lineage, error) {
	cluster, _, _, _ := sess.current()
	guests, err := cluster.ListGuests(ctx)
	if err != nil {
		return nil, fmt.Errorf("list guests: %w", err)
	}
	present := map[int]state.Guest{}
	for _, g := range guests {
		present[g.VMID] = g
	}
	linked := map[int][]int{}
	for _, t := range d.Templates {
		g, ok := present[t.VMID]
		if !ok || !g.Template {
			continue
		}
		ids, err := cluster.LinkedClones(ctx, g.Node, t.VMID)
		if err != nil {
			return nil, fmt.Errorf("linked clones of %s (%d): %w", t.Name, t.VMID, err)
		}
		if len(ids) > 0 {
			linked[t.VMID] = ids
		}
	}
	return ancestry.Trace(d, guests, linked, time.Now()), nil
}
