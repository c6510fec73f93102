package proxmoxtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"templated/internal/proxmox"
)

// Creator is what both implementations offer beyond reconcile.Cluster
// for a lease guest: creating a guest without disks and compare-and-swap
// on its description and tags.
type Creator interface {
	CreateGuest(ctx context.Context, node string, g proxmox.NewGuest) error
	SetMetaIf(ctx context.Context, node string, vmid int, digest, description string, tags []string) error
}

func creator(t *testing.T, h Harness) Creator {
	t.Helper()
	c, ok := h.Cluster().(Creator)
	if !ok {
		t.Fatalf("%T does not implement CreateGuest and SetMetaIf", h.Cluster())
	}
	return c
}

func testCreateGuest(t *testing.T, h Harness) {
	c, ctx, node := creator(t, h), t.Context(), h.Node()
	h.AddVM(t, VM{VMID: 101, Name: "web"})
	desc := "templated lease\ninstallation: a1\nexpires: 2026-01-02T03:04:05Z"
	if err := c.CreateGuest(ctx, node, proxmox.NewGuest{VMID: 9949, Name: "templated-lease", Description: desc, Tags: []string{"Templated-Lease"}}); err != nil {
		t.Fatal(err)
	}
	g := mustGuest(t, h, 9949)
	if g.Name != "templated-lease" || g.Template || g.Status != "stopped" || g.Node != node || !reflect.DeepEqual(g.Tags, []string{"templated-lease"}) {
		t.Errorf("created guest listed as %+v", g)
	}
	gc := config(t, h, 9949)
	if gc.Description != desc || len(gc.Disks) != 0 || gc.Template || gc.Lock != "" || gc.Digest == "" {
		t.Errorf("created guest config: %+v", gc)
	}
	err := c.CreateGuest(ctx, node, proxmox.NewGuest{VMID: 9949, Name: "other", Description: "other"})
	wantKind(t, "VMID taken", err, proxmox.ErrExists)
	err = c.CreateGuest(ctx, OtherNode, proxmox.NewGuest{VMID: 101, Name: "other"})
	wantKind(t, "VMID taken on another node", err, proxmox.ErrExists)
	if gc := config(t, h, 9949); gc.Description != desc || gc.Name != "templated-lease" {
		t.Errorf("a refused create changed the guest: %+v", gc)
	}
	wantKind(t, "invalid name", c.CreateGuest(ctx, node, proxmox.NewGuest{VMID: 9950, Name: "under_score"}), proxmox.ErrInvalid)
	wantKind(t, "invalid tag", c.CreateGuest(ctx, node, proxmox.NewGuest{VMID: 9951, Name: "x", Tags: []string{"no/slash"}}), proxmox.ErrInvalid)
	wantKind(t, "invalid VMID", c.CreateGuest(ctx, node, proxmox.NewGuest{VMID: 99, Name: "x"}), proxmox.ErrInvalid)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	wantKind(t, "canceled", c.CreateGuest(canceled, node, proxmox.NewGuest{VMID: 9952, Name: "x"}), context.Canceled)
	for _, id := range []int{9950, 9951, 9952} {
		if _, ok := guest(t, h, id); ok {
			t.Errorf("a refused create left guest %d", id)
		}
	}
}

// testCreateGuestRace: of concurrent creates at one VMID exactly one
// succeeds and the guest is the winner's.
func testCreateGuestRace(t *testing.T, h Harness) {
	c, ctx, node := creator(t, h), t.Context(), h.Node()
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = c.CreateGuest(ctx, node, proxmox.NewGuest{VMID: 9949, Name: "lease", Description: fmt.Sprintf("holder %d", i)})
		})
	}
	wg.Wait()
	winner := oneWinner(t, "create", errs, proxmox.ErrExists)
	if gc := config(t, h, 9949); gc.Description != fmt.Sprintf("holder %d", winner) {
		t.Fatalf("guest says %q, the winner was %d", gc.Description, winner)
	}
}

func testSetMetaIf(t *testing.T, h Harness) {
	c, ctx, node := creator(t, h), t.Context(), h.Node()
	h.AddVM(t, VM{VMID: 9949, Name: "lease", Description: "v0"})
	d0 := config(t, h, 9949).Digest
	if err := c.SetMetaIf(ctx, node, 9949, d0, "v1", []string{"Lease"}); err != nil {
		t.Fatal(err)
	}
	gc := config(t, h, 9949)
	if gc.Description != "v1" || !reflect.DeepEqual(gc.Tags, []string{"lease"}) || gc.Digest == d0 {
		t.Fatalf("after SetMetaIf: %q %v digest %q (was %q)", gc.Description, gc.Tags, gc.Digest, d0)
	}
	wantKind(t, "stale digest", c.SetMetaIf(ctx, node, 9949, d0, "v2", nil), proxmox.ErrModified)
	if gc := config(t, h, 9949); gc.Description != "v1" {
		t.Fatalf("a stale digest changed the description to %q", gc.Description)
	}
	d1 := config(t, h, 9949).Digest
	if err := h.Cluster().SetMeta(ctx, node, 9949, "changed by someone", nil); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "digest before another's change", c.SetMetaIf(ctx, node, 9949, d1, "v2", nil), proxmox.ErrModified)
	wantKind(t, "no digest", c.SetMetaIf(ctx, node, 9949, "", "v2", nil), proxmox.ErrInvalid)
	wantKind(t, "missing guest", c.SetMetaIf(ctx, node, 4242, d1, "v2", nil), proxmox.ErrNotFound)
	h.SetLock(t, 9949, "backup")
	wantKind(t, "locked guest", c.SetMetaIf(ctx, node, 9949, config(t, h, 9949).Digest, "v2", nil), proxmox.ErrLocked)
	if gc := config(t, h, 9949); gc.Description != "changed by someone" {
		t.Fatalf("refused swaps changed the description to %q", gc.Description)
	}
}

// testSetMetaIfRace: of concurrent swaps from one digest exactly one
// succeeds.
func testSetMetaIfRace(t *testing.T, h Harness) {
	c, ctx, node := creator(t, h), t.Context(), h.Node()
	h.AddVM(t, VM{VMID: 9949, Name: "lease", Description: "v0"})
	d0 := config(t, h, 9949).Digest
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = c.SetMetaIf(ctx, node, 9949, d0, fmt.Sprintf("holder %d", i), nil) })
	}
	wg.Wait()
	winner := oneWinner(t, "swap", errs, proxmox.ErrModified)
	if gc := config(t, h, 9949); gc.Description != fmt.Sprintf("holder %d", winner) {
		t.Fatalf("guest says %q, the winner was %d", gc.Description, winner)
	}
}

// oneWinner returns the index of the one nil error among errs; every
// other must match loser.
func oneWinner(t *testing.T, what string, errs []error, loser error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("%ss %d and %d both succeeded", what, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, loser):
			t.Fatalf("%s %d: %v, want one matching %q", what, i, err, loser)
		}
	}
	if winner < 0 {
		t.Fatalf("no %s succeeded", what)
	}
	return winner
}
