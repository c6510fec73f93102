package session

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"templated/internal/lease"
	"templated/internal/ledger"
	"templated/internal/proxmox"
	"templated/internal/pvesim"
	"templated/internal/reconcile"
	"templated/internal/state"
	"templated/internal/workspace"
)

// simTools builds on the simulator as Packer would: a template at the
// staging VMID, named and described as the executor asks.
type simTools struct {
	fakeTools
	sim *pvesim.Server
}

func (f *simTools) Builder(string, string) reconcile.Builder { return f }
func (f *simTools) Build(_ context.Context, req reconcile.BuildRequest) (reconcile.BuildResult, error) {
	t := req.Template
	err := f.sim.Cluster().AddGuests([]pvesim.GuestSpec{{VMID: req.StagingVMID, Node: t.Node, Name: req.StagingName,
		Template: true, Description: req.Description, Config: map[string]string{
			"cores": fmt.Sprint(t.Cores), "memory": fmt.Sprint(t.MemoryMiB), "agent": "1",
			"scsi0": fmt.Sprintf("local-lvm:base-%d-disk-0,size=%dG", req.StagingVMID, t.DiskGB),
			"ide2":  fmt.Sprintf("local-lvm:vm-%d-cloudinit,media=cdrom", req.StagingVMID)}}})
	if err != nil {
		return reconcile.BuildResult{}, fmt.Errorf("packer: %w", err)
	}
	f.mu.Lock()
	f.builds = append(f.builds, req.StagingName)
	f.mu.Unlock()
	return reconcile.BuildResult{ArtifactID: fmt.Sprint(req.StagingVMID), PackerVersion: "1.11.2"}, nil
}

// deletions wraps the client and records what each installation deletes.
type deletions struct {
	*proxmox.Client
	mu      sync.Mutex
	deleted []state.Guest
}

func (d *deletions) Delete(ctx context.Context, node string, vmid int) error {
	guests, err := d.Client.ListGuests(ctx)
	if err != nil {
		return err
	}
	for _, g := range guests {
		if g.VMID == vmid {
			if g.Name == lease.Name {
				cfg, _ := d.Client.GuestConfig(ctx, node, vmid)
				g.Tags = append(g.Tags, "lease-of-"+leaseHolder(cfg.Description))
			}
			d.mu.Lock()
			d.deleted = append(d.deleted, g)
			d.mu.Unlock()
		}
	}
	return d.Client.Delete(ctx, node, vmid)
}

func leaseHolder(desc string) string {
	h, _ := lease.ParseHolder(desc)
	return h.Installation
}

// TestTwoInstallationsNeverTouchEachOther runs two installations (their
// own state directories, one simulator) against the same template at once,
// round after round: one acts while the other waits for the lease or is
// refused naming it, and neither ever deletes a guest of the other.
func TestTwoInstallationsNeverTouchEachOther(t *testing.T) {
	seed := pvesim.DefaultSeed()
	seed.Guests = nil
	sim, d := simWorld(t, seed)
	d.Templates = d.Templates[:1] // tpl-ubuntu-22.04 at 9000, a clone build
	d.Templates[0].Node = sim.Node()
	if err := sim.Cluster().AddGuests([]pvesim.GuestSpec{{VMID: 8000, Node: sim.Node(), Name: "base-ubuntu-22.04", Template: true,
		Config: map[string]string{"scsi0": "local-lvm:base-8000-disk-0,size=3G"}}}); err != nil {
		t.Fatal(err)
	}

	type inst struct {
		sess  *Session
		tools *simTools
		del   *deletions
		id    string
	}
	var insts [2]*inst
	for i := range insts {
		base := t.TempDir()
		cl, err := proxmox.New(proxmox.Config{URL: sim.URL(), TokenID: sim.TokenID(), TokenSecret: proxmox.Secret(sim.TokenSecret())}, proxmox.Options{PollInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		in := &inst{tools: &simTools{sim: sim}, del: &deletions{Client: cl}}
		evidence, key := filepath.Join(base, "evidence"), filepath.Join(base, "ledger.key")
		if _, err := ledger.CreateKey(evidence, key, fmt.Sprintf("templated/inst%d/packer-ledger", i)); err != nil {
			t.Fatal(err)
		}
		set := Settings{DesiredPath: repoDesired, StateDir: filepath.Join(base, "state"), EvidenceDir: evidence, LedgerKey: key,
			Parallel: 1, Version: "test", Cluster: in.del, Tools: in.tools}
		if i == 1 {
			set.LeaseWait = -1 // the second waits for the lease; the first refuses at once
			set.leasePoll = 50 * time.Millisecond
		}
		if in.sess, err = Open(context.Background(), set); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(in.sess.Close)
		in.id = in.sess.installation
		insts[i] = in
	}
	rounds := 12
	if testing.Short() {
		rounds = 2
	}
	for round := 0; round < rounds; round++ {
		rd := *d
		rd.Templates = append([]state.Template(nil), d.Templates...)
		rd.Templates[0].MemoryMiB = 1024 * (2 + round%2) // every round changes something: a rebuild
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, in := range insts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = in.sess.Reconcile(context.Background(), &rd, Options{})
			}()
		}
		wg.Wait()
		var held *lease.HeldError
		if errs[1] != nil || (errs[0] != nil && !(errors.As(errs[0], &held) && strings.Contains(errs[0].Error(), insts[1].id))) {
			t.Fatalf("round %d: %v / %v: want success, or the first refused naming the second", round, errs[0], errs[1])
		}
		if g, ok := guestAt(t, insts[0].del.Client, 9000); !ok || !g.Template {
			t.Fatalf("round %d: no template at the reserved VMID", round)
		}
	}
	for i, in := range insts {
		mine := map[string]bool{}
		for _, n := range in.tools.built() {
			mine[n] = true
		}
		for _, g := range in.del.deleted {
			s, _ := state.StampFromTags(g.Tags)
			switch {
			case g.Name == lease.Name && g.HasTag("lease-of-"+in.id):
			case mine[g.Name]:
			case s.Installation == in.id, g.VMID == 9000 && s.Installation != "":
				// its own copies; or the template at the reserved VMID,
				// which either installation may replace in a rebuild
			default:
				t.Errorf("installation %d (%s) deleted %d %q (tags %v): not its own", i, in.id, g.VMID, g.Name, g.Tags)
			}
		}
	}
	t.Logf("builds: installation 0 %d, installation 1 %d", len(insts[0].tools.built()), len(insts[1].tools.built()))
	if _, ok := guestAt(t, insts[0].del.Client, 9949); ok {
		t.Error("a lease guest was left behind")
	}
}

func guestAt(t *testing.T, c *proxmox.Client, vmid int) (state.Guest, bool) {
	t.Helper()
	guests, err := c.ListGuests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range guests {
		if g.VMID == vmid {
			return g, true
		}
	}
	return state.Guest{}, false
}

// simWorld starts a simulator over plain HTTP with quick tasks and loads
// the repository's desired file.
func simWorld(t *testing.T, seed *pvesim.Seed) (*pvesim.Server, *state.Desired) {
	t.Helper()
	sim, err := pvesim.Start(pvesim.Options{Seed: seed, NoTLS: true, TaskDuration: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	d, err := workspace.LoadDesired(repoDesired)
	if err != nil {
		t.Fatal(err)
	}
	return sim, withoutImages(d)
}

// withoutImages is d as it was before images were declared: every
// template builds from what its var file names (ISOs, base VMs).
func withoutImages(d *state.Desired) *state.Desired {
	d.Images = nil
	for i := range d.Templates {
		d.Templates[i].Image, d.Templates[i].ExtraImages = "", nil
	}
	return d
}
