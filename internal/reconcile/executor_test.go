package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"templated/internal/journal"
	"templated/internal/plan"
	"templated/internal/proxmox/proxmoxfake"
	"templated/internal/state"
)

// fakeBuilder does what Packer does to a cluster: it leaves a template at
// the staging VMID, or fails.
type fakeBuilder struct {
	c       *proxmoxfake.Cluster
	fail    map[string]error // template name → error
	memory  int              // if set, the built template gets this memory (to fail verification)
	diskGB  float64          // if set, the built template gets this disk size
	running atomic.Int32
	peak    atomic.Int32
	builds  atomic.Int32
	delay   time.Duration
	panics  string // the template whose build panics
	onBuild func() // runs at the start of every build
	mu      sync.Mutex
	reqs    []BuildRequest // every request, in arrival order
}

func (b *fakeBuilder) Build(ctx context.Context, req BuildRequest) (BuildResult, error) {
	b.builds.Add(1)
	b.mu.Lock()
	b.reqs = append(b.reqs, req)
	b.mu.Unlock()
	n := b.running.Add(1)
	defer b.running.Add(-1)
	for {
		p := b.peak.Load()
		if n <= p || b.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if b.delay > 0 {
		select {
		case <-time.After(b.delay):
		case <-ctx.Done():
			return BuildResult{}, ctx.Err()
		}
	}
	if b.onBuild != nil {
		b.onBuild()
	}
	if err := b.fail[req.Template.Name]; err != nil {
		return BuildResult{}, err
	}
	if req.Template.Name == b.panics {
		panic("fake builder bug")
	}
	mem := req.Template.MemoryMiB
	if b.memory != 0 {
		mem = b.memory
	}
	t := req.Template
	disk := float64(t.DiskGB)
	if b.diskGB != 0 {
		disk = b.diskGB
	}
	err := b.c.Add(proxmoxfake.VM{VMID: req.StagingVMID, Node: t.Node, Name: req.StagingName, Template: true,
		Cores: t.Cores, Sockets: 1, MemoryMiB: mem, Agent: true, CloudInit: true, Description: req.Description,
		Disks: []state.Disk{{Key: "scsi0", Volume: fmt.Sprintf("local-lvm:base-%d-disk-0", req.StagingVMID), SizeGB: disk}}})
	return BuildResult{ArtifactID: fmt.Sprint(req.StagingVMID), PackerVersion: "1.11.2"}, err
}

// memRecorder keeps ledger records in memory.
type memRecorder struct {
	mu       sync.Mutex
	events   []Event
	finished []BuildRecord
	started  int
}

type memEvidence struct{ r *memRecorder }

func (m memEvidence) LogPath() string      { return "/dev/null" }
func (m memEvidence) ManifestPath() string { return "/dev/null" }
func (m memEvidence) Finish(ctx context.Context, b BuildRecord, err error) error {
	m.r.mu.Lock()
	defer m.r.mu.Unlock()
	m.r.finished = append(m.r.finished, b)
	return nil
}

func (r *memRecorder) BuildStarted(context.Context, BuildRecord) (Evidence, error) {
	r.mu.Lock()
	r.started++
	r.mu.Unlock()
	return memEvidence{r}, nil
}
func (r *memRecorder) Event(_ context.Context, ev Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return nil
}

type harness struct {
	c   *proxmoxfake.Cluster
	b   *fakeBuilder
	rec *memRecorder
	e   *Executor
	d   *state.Desired
	out bytes.Buffer
}

func newHarness(t *testing.T, ts ...state.Template) *harness {
	t.Helper()
	h := &harness{c: proxmoxfake.New(), rec: &memRecorder{}}
	h.b = &fakeBuilder{c: h.c, fail: map[string]error{}}
	j, err := journal.OpenJournal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := range ts {
		ts[i].Node = "pve1"
	}
	h.d = desired(ts...)
	clock := now
	h.e = &Executor{Cluster: h.c, Builder: h.b, Recorder: h.rec, Journal: j, Progress: &h.out,
		Parallel: 4, PerNode: 4, RetryWait: time.Millisecond, Now: func() time.Time { return clock }}
	return h
}

// seedTemplate puts a template built by templated at vmid.
func (h *harness) seedTemplate(t *testing.T, name string, vmid int, release, inputs string, at time.Time) {
	t.Helper()
	s := state.Stamp{Template: name, Release: release, InputsHash: inputs, BuiltAt: at, BuildID: "old-" + release, Role: state.RoleTemplate}
	if err := h.c.Add(proxmoxfake.VM{VMID: vmid, Node: "pve1", Name: name, Template: true, Cores: 2, MemoryMiB: 2048,
		Agent: true, CloudInit: true, Tags: s.Tags(), Description: s.Description(),
		Disks: []state.Disk{{Key: "scsi0", Volume: fmt.Sprintf("local-lvm:base-%d-disk-0", vmid), SizeGB: 20}}}); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) apply(t *testing.T, inputs map[string]string) Report {
	t.Helper()
	guests, err := h.c.ListGuests(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p := Plan(h.d, state.Observed{Guests: guests, Inputs: inputs}, now)
	rep, err := h.e.Apply(context.Background(), h.d, p)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// assertTemplate checks that vmid holds templated's template name at release.
func (h *harness) assertTemplate(t *testing.T, vmid int, name, release string) state.Stamp {
	t.Helper()
	v, ok := h.c.VM(vmid)
	if !ok {
		t.Fatalf("VMID %d is empty", vmid)
	}
	s, owned := state.StampFromDescription(v.Description)
	if !v.Template || v.Name != name || !owned || s.Role != state.RoleTemplate || s.Release != release || v.Lock != "" {
		t.Fatalf("VMID %d holds %+v (stamp %+v), want template %s release %s", vmid, v, s, name, release)
	}
	return s
}

// assertClean checks that no staging VM is left and the journal is empty.
func (h *harness) assertClean(t *testing.T) {
	t.Helper()
	guests, _ := h.c.ListGuests(context.Background())
	for _, g := range guests {
		if h.d.VMIDs.Staging.Contains(g.VMID) {
			t.Errorf("staging VM left behind: %d %s", g.VMID, g.Name)
		}
	}
	ops, err := h.e.Journal.Pending()
	if err != nil || len(ops) != 0 {
		t.Errorf("journal not empty: %+v %v", ops, err)
	}
}

func (h *harness) previousCount(t *testing.T, name string) int {
	prevs, err := h.e.previousVersions(context.Background(), state.Template{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return len(prevs)
}

func TestApplyCreates(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"), tmpl("tpl-ubuntu-24.04", 9001, "1.0.0"))
	rep := h.apply(t, inputs("tpl-ubuntu-22.04", "tpl-ubuntu-24.04"))
	if f := rep.Failed(); len(f) != 0 {
		t.Fatalf("failures: %+v", f)
	}
	s := h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.0.0")
	if s.InputsHash != inputsA || s.BuildID == "" {
		t.Errorf("stamp %+v", s)
	}
	h.assertTemplate(t, 9001, "tpl-ubuntu-24.04", "1.0.0")
	h.assertClean(t)
	if h.previousCount(t, "tpl-ubuntu-22.04") != 0 {
		t.Error("a create kept a previous version of nothing")
	}
	// A second plan over the result has nothing to do.
	guests, _ := h.c.ListGuests(context.Background())
	if p := Plan(h.d, state.Observed{Guests: guests, Inputs: inputs("tpl-ubuntu-22.04", "tpl-ubuntu-24.04")}, now); p.HasChanges() {
		t.Fatalf("plan after apply still has changes: %+v", p.Summary)
	}
	if len(h.rec.finished) != 2 || h.rec.finished[0].Result != "success" {
		t.Errorf("ledger builds: %+v", h.rec.finished)
	}
}

func TestApplyRebuildKeepsPrevious(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.1.0"))
	h.seedTemplate(t, "tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, now.Add(-time.Hour))
	for i, rel := range []string{"1.1.0", "1.2.0"} {
		h.d.Templates[0].Release = tmpl("x", 1, rel).Release
		rep := h.apply(t, inputs("tpl-ubuntu-22.04"))
		if f := rep.Failed(); len(f) != 0 {
			t.Fatalf("round %d failures: %+v", i, f)
		}
		h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", rel)
		h.assertClean(t)
		if n := h.previousCount(t, "tpl-ubuntu-22.04"); n != 1 {
			t.Fatalf("round %d: %d previous versions, want keep_previous=1", i, n)
		}
	}
	prevs, _ := h.e.previousVersions(context.Background(), h.d.Templates[0])
	v, _ := h.c.VM(prevs[0].VMID)
	if s, _ := state.StampFromDescription(v.Description); s.Release != "1.1.0" || s.Role != state.RolePrevious {
		t.Fatalf("previous version holds %+v, want release 1.1.0", s)
	}
	if !h.d.VMIDs.Previous.Contains(prevs[0].VMID) {
		t.Fatalf("previous version at %d, outside the previous range", prevs[0].VMID)
	}
}

func TestApplyBuildFailureLeavesCurrent(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.1.0"))
	h.seedTemplate(t, "tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, now.Add(-time.Hour))
	h.b.fail["tpl-ubuntu-22.04"] = errors.New("packer exited 1")
	rep := h.apply(t, inputs("tpl-ubuntu-22.04"))
	if f := rep.Failed(); len(f) != 1 || !strings.Contains(f[0].Err.Error(), "packer exited 1") || f[0].Step != journal.StepBuilding {
		t.Fatalf("failures: %+v", rep.Results)
	}
	h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.0.0")
	h.assertClean(t)
	if len(h.rec.finished) != 1 || h.rec.finished[0].Result != "failure" {
		t.Errorf("failed build not recorded: %+v", h.rec.finished)
	}
}

// A panic in one template's build fails that template alone: the other
// build finishes, the reserved VMID keeps its template, and the journal
// keeps the operation, which the next run recovers.
func TestApplyPanicFailsOneTemplate(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.1.0"), tmpl("tpl-ubuntu-24.04", 9001, "1.0.0"))
	h.seedTemplate(t, "tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, now.Add(-time.Hour))
	h.b.panics = "tpl-ubuntu-22.04"
	rep := h.apply(t, inputs("tpl-ubuntu-22.04", "tpl-ubuntu-24.04"))
	f := rep.Failed()
	if len(rep.Results) != 2 || len(f) != 1 || f[0].Template != "tpl-ubuntu-22.04" ||
		!strings.Contains(f[0].Err.Error(), "panic: fake builder bug") || f[0].Step != journal.StepBuilding || f[0].BuildID == "" {
		t.Fatalf("results: %+v", rep.Results)
	}
	h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.0.0")
	h.assertTemplate(t, 9001, "tpl-ubuntu-24.04", "1.0.0")
	if op, ok := h.e.pendingOp("tpl-ubuntu-22.04"); !ok || op.Step != journal.StepBuilding || op.BuildID != f[0].BuildID {
		t.Fatalf("the journal should keep the panicked build: %+v", op)
	}
	h.b.panics = ""
	if err := h.e.Recover(context.Background(), h.d); err != nil {
		t.Fatal(err)
	}
	h.assertClean(t)
	if rep := h.apply(t, inputs("tpl-ubuntu-22.04", "tpl-ubuntu-24.04")); len(rep.Failed()) != 0 {
		t.Fatalf("rerun: %+v", rep.Results)
	}
	h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.1.0")
	h.assertClean(t)
}

func TestApplyVerifyFailureRemovesStaging(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"))
	h.b.memory = 1024
	rep := h.apply(t, inputs("tpl-ubuntu-22.04"))
	f := rep.Failed()
	if len(f) != 1 || !strings.Contains(f[0].Err.Error(), "1024 MiB memory, want 2048") {
		t.Fatalf("failures: %+v", rep.Results)
	}
	if _, ok := h.c.VM(9000); ok {
		t.Fatal("a build that failed verification was placed")
	}
	h.assertClean(t)
}

func TestApplyKeepFailed(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"))
	h.b.memory = 1024
	h.e.KeepFailed = true
	h.apply(t, inputs("tpl-ubuntu-22.04"))
	if v, ok := h.c.VM(9900); !ok || !strings.HasPrefix(v.Name, "tpl-ubuntu-22.04-stg-9900-") {
		t.Fatalf("--keep-failed did not keep the staging VM: %+v %v", v, ok)
	}
}

// TestCleanupLeavesAnotherBuildsStagingVM: two installations took staging
// VMID 9900 at once; the other one's Packer got there first and this
// build failed. Its clean-up must not delete the other build's VM, and
// the ledger says what it left alone.
func TestCleanupLeavesAnotherBuildsStagingVM(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"))
	h.e.Installation = "aaaaaaaaaaaa"
	other := proxmoxfake.VM{VMID: 9900, Node: "pve1", Name: "tpl-ubuntu-22.04-stg-9900-0badf00d",
		Description: "templated staging build 20261126T115959Z-0badf00d (installation bbbbbbbbbbbb)"}
	h.b.onBuild = func() { _ = h.c.Add(other) }
	h.b.fail["tpl-ubuntu-22.04"] = errors.New("VM 9900 already exists on node 'pve1'")
	rep := h.apply(t, inputs("tpl-ubuntu-22.04"))
	if len(rep.Failed()) != 1 {
		t.Fatalf("report %+v", rep)
	}
	if v, ok := h.c.VM(9900); !ok || v.Name != other.Name {
		t.Fatalf("the other installation's build VM was deleted: %+v %v", v, ok)
	}
	if ops, _ := h.e.Journal.Pending(); len(ops) != 0 {
		t.Errorf("a guest that is not ours kept the journal entry open: %+v", ops)
	}
	var skipped []Event
	for _, ev := range h.rec.events {
		if ev.Kind == "cleanup" && ev.Result == "skipped" {
			skipped = append(skipped, ev)
		}
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0].Detail, "left alone") || skipped[0].VMID != 9900 {
		t.Errorf("ledger events %+v: want one skipped clean-up naming 9900", h.rec.events)
	}
}

// TestPruneLeavesAnotherInstallationsPrevious: previous versions stamped by
// another installation are neither counted nor pruned.
func TestPruneLeavesAnotherInstallationsPrevious(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.1.0"))
	h.e.Installation = "aaaaaaaaaaaa"
	h.seedTemplate(t, "tpl-ubuntu-22.04", 9000, "1.0.0", "old", now.Add(-time.Hour))
	theirs := state.Stamp{Template: "tpl-ubuntu-22.04", Release: "0.9.0", BuiltAt: now.Add(-48 * time.Hour), Role: state.RolePrevious, Installation: "bbbbbbbbbbbb"}
	if err := h.c.Add(proxmoxfake.VM{VMID: 9960, Node: "pve1", Name: "tpl-ubuntu-22.04-prev-9960", Template: true,
		Tags: theirs.Tags(), Description: theirs.Description()}); err != nil {
		t.Fatal(err)
	}
	rep := h.apply(t, inputs("tpl-ubuntu-22.04"))
	if len(rep.Failed()) != 0 {
		t.Fatalf("report %+v", rep)
	}
	if _, ok := h.c.VM(9960); !ok {
		t.Error("another installation's previous version was pruned")
	}
	if _, ok := h.c.VM(9950); !ok {
		t.Error("this installation's previous version (keep_previous 1) was not kept")
	}
	var skipped int
	for _, ev := range h.rec.events {
		if ev.Kind == "cleanup" && ev.Result == "skipped" && ev.VMID == 9960 && strings.Contains(ev.Detail, "bbbbbbbbbbbb") {
			skipped++
		}
	}
	if skipped != 1 {
		t.Errorf("events %+v: want the other installation's copy recorded as left alone", h.rec.events)
	}
}

func TestApplySwapFaults(t *testing.T) {
	boom := errors.New("proxmox answered 596")
	cases := []struct {
		name  string
		funcs func(c *proxmoxfake.Cluster) proxmoxfake.Funcs
		// restored: the old release must be at 9000; else the new one.
		want string
	}{
		{"place fails every time", func(c *proxmoxfake.Cluster) proxmoxfake.Funcs {
			return proxmoxfake.Funcs{Clone: func(_ context.Context, _ string, src, dst int, _ string) error {
				if dst == 9000 && src >= 9900 && src <= 9949 {
					return boom
				}
				return nil
			}}
		}, "1.0.0"},
		{"place fails once", func(c *proxmoxfake.Cluster) proxmoxfake.Funcs {
			var n atomic.Int32
			return proxmoxfake.Funcs{Clone: func(_ context.Context, _ string, src, dst int, _ string) error {
				if dst == 9000 && n.Add(1) == 1 {
					return boom
				}
				return nil
			}}
		}, "1.1.0"},
		{"convert of placed fails", func(c *proxmoxfake.Cluster) proxmoxfake.Funcs {
			return proxmoxfake.Funcs{ConvertToTemplate: func(_ context.Context, _ string, vmid int) error {
				if vmid == 9000 {
					if v, _ := c.VM(9000); strings.Contains(v.Description, "1.1.0") || v.Name == "tpl-ubuntu-22.04" && !strings.Contains(v.Description, "release: 1.0.0") {
						return boom
					}
				}
				return nil
			}}
		}, "1.0.0"},
		{"delete current fails", func(c *proxmoxfake.Cluster) proxmoxfake.Funcs {
			return proxmoxfake.Funcs{Delete: func(_ context.Context, _ string, vmid int) error {
				if vmid == 9000 {
					return boom
				}
				return nil
			}}
		}, "1.0.0"},
		{"keep previous fails", func(c *proxmoxfake.Cluster) proxmoxfake.Funcs {
			return proxmoxfake.Funcs{Clone: func(_ context.Context, _ string, src, dst int, _ string) error {
				if src == 9000 {
					return boom
				}
				return nil
			}}
		}, "1.0.0"},
		{"stamping the kept copy fails", func(c *proxmoxfake.Cluster) proxmoxfake.Funcs {
			return proxmoxfake.Funcs{SetMeta: func(_ context.Context, _ string, vmid int, _ string, _ []string) error {
				if vmid >= 9950 {
					return boom
				}
				return nil
			}}
		}, "1.0.0"},
		{"token revoked before delete", func(c *proxmoxfake.Cluster) proxmoxfake.Funcs {
			return proxmoxfake.Funcs{Version: func(context.Context) error { return errors.New("401 authentication failed") }}
		}, "1.0.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.1.0"))
			h.seedTemplate(t, "tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, now.Add(-time.Hour))
			h.c.SetFuncs(tc.funcs(h.c))
			rep := h.apply(t, inputs("tpl-ubuntu-22.04"))
			h.c.SetFuncs(proxmoxfake.Funcs{})
			t.Logf("results: %+v", rep.Results)
			h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", tc.want)
			if (tc.want == "1.0.0") != (len(rep.Failed()) == 1) {
				t.Fatalf("result %+v does not match the template in place (%s)", rep.Results, tc.want)
			}
			guests, _ := h.c.ListGuests(context.Background())
			for _, g := range guests {
				if h.d.VMIDs.Staging.Contains(g.VMID) {
					t.Errorf("staging VM left: %+v", g)
				}
				if h.d.VMIDs.Previous.Contains(g.VMID) && !g.HasTag(state.TagPrevious) {
					t.Errorf("a half-made copy was left in the previous range: %+v", g)
				}
			}
			// Whatever happened, a later run converges.
			if err := h.e.Recover(context.Background(), h.d); err != nil {
				t.Fatalf("recover: %v", err)
			}
			rep = h.apply(t, inputs("tpl-ubuntu-22.04"))
			if f := rep.Failed(); len(f) != 0 {
				t.Fatalf("rerun failed: %+v", f)
			}
			h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.1.0")
			h.assertClean(t)
		})
	}
}

// A guest that someone creates at the reserved VMID while it stands empty
// is never deleted by the restore. The build fails, the old template stays
// as a previous version (rollback can bring it back), and no journal entry
// is kept that every later run's recovery would trip over: once people
// free the VMID, the next apply creates the template again.
func TestRestoreNeverDeletesForeignGuest(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.1.0"))
	h.seedTemplate(t, "tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, now.Add(-time.Hour))
	h.c.SetFuncs(proxmoxfake.Funcs{Clone: func(_ context.Context, _ string, src, dst int, _ string) error {
		if dst == 9000 && src >= 9900 && src <= 9949 {
			if _, taken := h.c.VM(9000); !taken {
				_ = h.c.Add(proxmoxfake.VM{VMID: 9000, Node: "pve1", Name: "someones-vm"})
			}
		}
		return nil
	}})
	rep := h.apply(t, inputs("tpl-ubuntu-22.04"))
	h.c.SetFuncs(proxmoxfake.Funcs{})
	f := rep.Failed()
	if len(f) != 1 || !strings.Contains(f[0].Err.Error(), `occupied by "someones-vm"`) {
		t.Fatalf("results: %+v", rep.Results)
	}
	if v, ok := h.c.VM(9000); !ok || v.Name != "someones-vm" {
		t.Fatalf("the guest someone put at 9000 was removed: %+v %v", v, ok)
	}
	if h.previousCount(t, "tpl-ubuntu-22.04") != 1 {
		t.Fatal("the kept copy of the old template is gone")
	}
	h.assertClean(t) // no staging VM, no journal entry
	if err := h.e.Recover(context.Background(), h.d); err != nil {
		t.Fatalf("recovery with the foreign guest still there: %v", err)
	}
	// People move their guest away; the next apply creates the template.
	if err := h.c.Delete(context.Background(), "pve1", 9000); err != nil {
		t.Fatal(err)
	}
	if rep := h.apply(t, inputs("tpl-ubuntu-22.04")); len(rep.Failed()) != 0 {
		t.Fatalf("rerun: %+v", rep.Results)
	}
	h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.1.0")
}

// Someone creates a VM at a new template's reserved VMID while it builds:
// the create fails, their VM stays, and nothing is left for later runs to
// trip over (no staging VM, no journal entry).
func TestCreateRefusedByForeignGuest(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"))
	h.b.onBuild = func() { _ = h.c.Add(proxmoxfake.VM{VMID: 9000, Node: "pve1", Name: "someones-vm"}) }
	rep := h.apply(t, inputs("tpl-ubuntu-22.04"))
	if f := rep.Failed(); len(f) != 1 || !strings.Contains(f[0].Err.Error(), `"someones-vm"`) {
		t.Fatalf("results: %+v", rep.Results)
	}
	if v, ok := h.c.VM(9000); !ok || v.Name != "someones-vm" {
		t.Fatalf("the guest someone put at 9000 was touched: %+v %v", v, ok)
	}
	h.assertClean(t)
	if err := h.e.Recover(context.Background(), h.d); err != nil {
		t.Fatalf("recovery: %v", err)
	}
}

func TestApplyParallelLimit(t *testing.T) {
	ts, names := manyTemplates(6)
	h := newHarness(t, ts...)
	h.e.Parallel = 2
	h.b.delay = 20 * time.Millisecond
	rep := h.apply(t, inputs(names...))
	if f := rep.Failed(); len(f) != 0 {
		t.Fatalf("failures: %+v", f)
	}
	if p := h.b.peak.Load(); p > 2 || p < 1 {
		t.Fatalf("peak concurrent builds %d, limit 2", p)
	}
	for i, n := range names {
		h.assertTemplate(t, 9000+i, n, "1.0.0")
	}
	h.assertClean(t)
}

func TestRollbackHoldResume(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.1.0"))
	h.seedTemplate(t, "tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, now.Add(-time.Hour))
	if f := h.apply(t, inputs("tpl-ubuntu-22.04")).Failed(); len(f) != 0 {
		t.Fatal(f)
	}
	if err := h.e.Rollback(context.Background(), h.d, "tpl-ubuntu-22.04", inputsA, "alice"); err != nil {
		t.Fatal(err)
	}
	h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.0.0")
	h.assertClean(t)
	if n := h.previousCount(t, "tpl-ubuntu-22.04"); n != 1 {
		t.Fatalf("after rollback %d previous versions, want 1 (the rolled-back-from release)", n)
	}
	holds, _ := h.e.Journal.Holds()
	guests, _ := h.c.ListGuests(context.Background())
	p := Plan(h.d, state.Observed{Guests: guests, Inputs: inputs("tpl-ubuntu-22.04"), Holds: holds}, now)
	if p.Actions[0].Kind != plan.Blocked || p.Actions[0].Reasons[0].Code != plan.ReasonHeld {
		t.Fatalf("after rollback the plan is %+v, want held", p.Actions[0])
	}
	if err := h.e.Resume(context.Background(), "tpl-ubuntu-22.04"); err != nil {
		t.Fatal(err)
	}
	holds, _ = h.e.Journal.Holds()
	p = Plan(h.d, state.Observed{Guests: guests, Inputs: inputs("tpl-ubuntu-22.04"), Holds: holds}, now)
	if p.Actions[0].Kind != plan.Rebuild {
		t.Fatalf("after resume the plan is %+v, want rebuild", p.Actions[0])
	}
	if err := h.e.Resume(context.Background(), "tpl-ubuntu-22.04"); err == nil {
		t.Fatal("resume of a template that is not held succeeded")
	}
}

// buildReleases seeds tpl-ubuntu-22.04 1.0.0 at 9000, then builds each of
// rels over it in turn.
func (h *harness) buildReleases(t *testing.T, rels ...string) {
	t.Helper()
	h.seedTemplate(t, "tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, now.Add(-time.Hour))
	for _, rel := range rels {
		h.d.Templates[0].Release = tmpl("x", 1, rel).Release
		if f := h.apply(t, inputs("tpl-ubuntu-22.04")).Failed(); len(f) != 0 {
			t.Fatal(f)
		}
	}
}

// With keep_previous 2, a rollback keeps two previous versions: the one it
// rolled back from and the older one. The version it put back at the
// reserved VMID does not count.
func TestRollbackKeepsKeepPreviousVersions(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.1.0"))
	h.d.Templates[0].KeepPrevious = 2
	h.buildReleases(t, "1.1.0", "1.2.0")
	if n := h.previousCount(t, "tpl-ubuntu-22.04"); n != 2 {
		t.Fatalf("before rollback %d previous versions, want 2", n)
	}
	if err := h.e.Rollback(context.Background(), h.d, "tpl-ubuntu-22.04", inputsA, "alice"); err != nil {
		t.Fatal(err)
	}
	h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.1.0")
	h.assertClean(t)
	prevs, _ := h.e.previousVersions(context.Background(), h.d.Templates[0])
	var rels []string
	for _, g := range prevs {
		s, _ := state.StampFromTags(g.Tags)
		rels = append(rels, s.Release)
	}
	slices.Sort(rels)
	if !slices.Equal(rels, []string{"1.0.0", "1.2.0"}) {
		t.Fatalf("previous versions after rollback: %v, want 1.0.0 and 1.2.0", rels)
	}
}

// Recovering an operation whose entry has left the desired file prunes
// none of its previous versions: their keep_previous is no longer known.
func TestRecoverRemovedEntryPrunesNothing(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.1.0"))
	h.d.Templates[0].KeepPrevious = 3
	h.buildReleases(t, "1.1.0", "1.2.0")
	if n := h.previousCount(t, "tpl-ubuntu-22.04"); n != 2 {
		t.Fatalf("%d previous versions, want 2", n)
	}
	// A clean-up was interrupted, and then the entry was removed.
	if err := h.e.Journal.Put(journal.Op{Kind: "build", Template: "tpl-ubuntu-22.04", BuildID: "b", Node: "pve1", VMID: 9000, Step: journal.StepCleanup}); err != nil {
		t.Fatal(err)
	}
	h.d.Templates = nil
	if err := h.e.Recover(context.Background(), h.d); err != nil {
		t.Fatal(err)
	}
	if n := h.previousCount(t, "tpl-ubuntu-22.04"); n != 2 {
		t.Fatalf("recovery pruned previous versions of a removed entry: %d left, want 2", n)
	}
	h.assertClean(t)
}

func TestRollbackWithoutPrevious(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"))
	h.seedTemplate(t, "tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, now)
	err := h.e.Rollback(context.Background(), h.d, "tpl-ubuntu-22.04", inputsA, "bob")
	if err == nil || !strings.Contains(err.Error(), "no previous version") {
		t.Fatalf("err = %v", err)
	}
	h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.0.0")
}

func TestAdoptThenRebuild(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"))
	if err := h.c.Add(proxmoxfake.VM{VMID: 9000, Node: "pve1", Name: "ubuntu-2204-golden", Template: true, Cores: 2, MemoryMiB: 2048,
		Tags: []string{"golden"}, Description: "built by hand by carol"}); err != nil {
		t.Fatal(err)
	}
	guests, _ := h.c.ListGuests(context.Background())
	if p := Plan(h.d, state.Observed{Guests: guests, Inputs: inputs("tpl-ubuntu-22.04")}, now); p.Actions[0].Reasons[0].Code != plan.ReasonUnmanaged {
		t.Fatalf("before adopt: %+v", p.Actions[0])
	}
	if err := h.e.Adopt(context.Background(), h.d, "tpl-ubuntu-22.04"); err != nil {
		t.Fatal(err)
	}
	if err := h.e.Adopt(context.Background(), h.d, "tpl-ubuntu-22.04"); err == nil {
		t.Fatal("adopting twice succeeded")
	}
	v, _ := h.c.VM(9000)
	if !strings.Contains(v.Description, "built by hand by carol") || !v.Template {
		t.Fatalf("adopt lost the original description: %q", v.Description)
	}
	rep := h.apply(t, inputs("tpl-ubuntu-22.04"))
	if f := rep.Failed(); len(f) != 0 {
		t.Fatal(f)
	}
	h.assertTemplate(t, 9000, "tpl-ubuntu-22.04", "1.0.0")
	h.assertClean(t)
	if n := h.previousCount(t, "tpl-ubuntu-22.04"); n != 1 {
		t.Fatalf("the hand-built template was not kept as the previous version (%d)", n)
	}
	prevs, _ := h.e.previousVersions(context.Background(), h.d.Templates[0])
	kept, _ := h.c.VM(prevs[0].VMID)
	if !slices.Contains(kept.Tags, "golden") || !strings.Contains(kept.Description, "built by hand by carol") {
		t.Fatalf("the kept hand-built template lost its tags or description: %v %q", kept.Tags, kept.Description)
	}
}

func TestApplyCloneBuildGrowsDisk(t *testing.T) {
	h := newHarness(t, tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"))
	h.b.diskGB = 3.5 // the cloud image's disk, as proxmox-clone leaves it
	if f := h.apply(t, inputs("tpl-ubuntu-22.04")).Failed(); len(f) != 0 {
		t.Fatal(f)
	}
	v, _ := h.c.VM(9000)
	if len(v.Disks) != 1 || v.Disks[0].SizeGB != 20 {
		t.Fatalf("placed template disk %+v, want 20G", v.Disks)
	}
	guests, _ := h.c.ListGuests(context.Background())
	if p := Plan(h.d, state.Observed{Guests: guests, Inputs: inputs("tpl-ubuntu-22.04")}, now); p.HasChanges() {
		t.Fatalf("grown template still drifts: %+v", p.Actions[0])
	}
}

func TestApplyISOBuildWrongDiskFails(t *testing.T) {
	iso := tmpl("tpl-ubuntu-22.04", 9000, "1.0.0")
	iso.Build = state.BuildISO
	h := newHarness(t, iso)
	h.b.diskGB = 3.5
	f := h.apply(t, inputs("tpl-ubuntu-22.04")).Failed()
	if len(f) != 1 || !strings.Contains(f[0].Err.Error(), "disk scsi0 is 3.5G, want 20G") {
		t.Fatalf("failures: %+v", f)
	}
	h.assertClean(t)
}
