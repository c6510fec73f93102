package pvesim

import (
	"slices"
	"time"
)

// Vacancy is an interval during which no guest config existed at a VMID
// that had one before: from the moment a guest left it (the commit of its
// delete task, the rollback of a failed clone or create, RemoveGuest) to
// the moment a config appeared there again (a clone or create taking the
// VMID, with its lock, or AddGuest). To is zero while the VMID is still
// vacant.
type Vacancy struct {
	From, To time.Time
}

// Duration is how long the VMID was vacant (until now while it still is).
func (v Vacancy) Duration() time.Duration {
	if v.To.IsZero() {
		return time.Since(v.From)
	}
	return v.To.Sub(v.From)
}

// Vacancies returns the vacancies of vmid since the simulator started,
// oldest first. A swap that deletes a template and clones its successor
// into the same VMID leaves one vacancy whose length is the window in
// which a client could find no template there.
func (c *Cluster) Vacancies(vmid int) []Vacancy {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.vacant[vmid])
}

// putGuest places g at its VMID, closing the VMID's open vacancy; c.mu
// must be held.
func (c *Cluster) putGuest(g *guest) {
	c.guests[g.vmid] = g
	if vs := c.vacant[g.vmid]; len(vs) > 0 && vs[len(vs)-1].To.IsZero() {
		vs[len(vs)-1].To = c.now()
	}
}

// dropGuest removes g if it is still the guest at its VMID, opening a
// vacancy; c.mu must be held.
func (c *Cluster) dropGuest(g *guest) {
	if c.guests[g.vmid] != g {
		return
	}
	delete(c.guests, g.vmid)
	c.vacant[g.vmid] = append(c.vacant[g.vmid], Vacancy{From: c.now()})
}
