package reconcile

import (
	"context"
	"fmt"
	"time"

	"templated/internal/plan"
	"templated/internal/state"
)

// Lister is the part of Cluster that observing needs.
type Lister interface {
	ListGuests(ctx context.Context) ([]state.Guest, error)
	LinkedClones(ctx context.Context, node string, vmid int) ([]int, error)
}

// Observe gathers what Plan needs. Over an unchanged cluster that is one
// request (the guest list): linked clones are looked up only for the
// templates a first plan would replace, since only they can block it.
// inputs and holds come from the workspace and the state directory.
func Observe(ctx context.Context, c Lister, d *state.Desired, inputs map[string]string, holds map[string]state.Hold, now time.Time) (state.Observed, error) {
	guests, err := c.ListGuests(ctx)
	if err != nil {
		return state.Observed{}, fmt.Errorf("list guests: %w", err)
	}
	obs := state.Observed{Guests: guests, Inputs: inputs, Holds: holds}
	for _, a := range Plan(d, obs, now).Actions {
		if a.Kind != plan.Rebuild {
			continue
		}
		clones, err := c.LinkedClones(ctx, a.Node, a.VMID)
		if err != nil {
			return state.Observed{}, fmt.Errorf("linked clones of %d: %w", a.VMID, err)
		}
		if len(clones) > 0 {
			if obs.LinkedClones == nil {
				obs.LinkedClones = map[int][]int{}
			}
			obs.LinkedClones[a.VMID] = clones
		}
	}
	return obs, nil
}
