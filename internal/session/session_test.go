package session

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"templated/internal/daemon"
	"templated/internal/journal"
	"templated/internal/lease"
	"templated/internal/ledger"
	"templated/internal/mirror"
	"templated/internal/plan"
	"templated/internal/proxmox"
	"templated/internal/proxmox/proxmoxfake"
	"templated/internal/reconcile"
	"templated/internal/state"
	"templated/internal/workspace"
)

const repoDesired = "../../desired/templates.yaml"

// fakeTools is Packer as the fake cluster sees it: a build leaves a
// template at the staging VMID, or fails as told.
type fakeTools struct {
	c      *proxmoxfake.Cluster
	plugin string // the installed Proxmox plugin (default 1.1.1)
	mu     sync.Mutex
	fail   map[string]error
	builds []string
}

func (f *fakeTools) Version(context.Context) (string, error) { return "1.11.2", nil }
func (f *fakeTools) Plugins(context.Context) (map[string]string, error) {
	return map[string]string{"github.com/hashicorp/proxmox": "v" + f.pluginVersion()}, nil
}

func (f *fakeTools) pluginVersion() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return cmp.Or(f.plugin, "1.1.1")
}
func (f *fakeTools) ReapOrphans(context.Context) (int, error) { return 0, nil }
func (f *fakeTools) Builder(string, string) reconcile.Builder { return f }
func (f *fakeTools) Build(_ context.Context, req reconcile.BuildRequest) (reconcile.BuildResult, error) {
	f.mu.Lock()
	f.builds = append(f.builds, req.Template.Name)
	err := f.fail[req.Template.Name]
	f.mu.Unlock()
	if err != nil {
		return reconcile.BuildResult{}, err
	}
	t := req.Template
	if req.ManifestPath != "" {
		// What Packer's manifest post-processor leaves: the evidence's
		// subject (and so the provenance) needs one.
		m := fmt.Sprintf(`{"builds":[{"name":%q,"builder_type":"proxmox-clone","artifact_id":"%d"}]}`, t.Name, req.StagingVMID)
		if err := os.WriteFile(req.ManifestPath, []byte(m), 0o600); err != nil {
			return reconcile.BuildResult{}, err
		}
	}
	err = f.c.Add(proxmoxfake.VM{VMID: req.StagingVMID, Node: t.Node, Name: req.StagingName, Template: true,
		Cores: t.Cores, Sockets: 1, MemoryMiB: t.MemoryMiB, Agent: true, CloudInit: true, Description: req.Description,
		Disks: []state.Disk{{Key: "scsi0", Volume: fmt.Sprintf("local-lvm:base-%d-disk-0", req.StagingVMID), SizeGB: float64(t.DiskGB)}}})
	return reconcile.BuildResult{ArtifactID: fmt.Sprint(req.StagingVMID), PackerVersion: "1.11.2", PluginVersion: f.pluginVersion()}, err
}

func (f *fakeTools) built() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.builds...)
}

type harness struct {
	c       *proxmoxfake.Cluster
	tools   *fakeTools
	set     Settings
	d       *state.Desired
	mirror  *mirror.Server
	mirrors []mirror.Mapping
}

// pinImages gives d's pinned images the checksums of m's bytes (the
// vendors' cannot match them).
func pinImages(d *state.Desired, m *mirror.Server) {
	pins := m.PinnedChecksums()
	for i, im := range d.Images {
		if c, ok := pins[im.URL]; ok && im.Checksum != "" {
			d.Images[i].Checksum = c
		}
	}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	base := t.TempDir()
	h := &harness{c: proxmoxfake.New()}
	h.tools = &fakeTools{c: h.c, fail: map[string]error{}}
	d, err := workspace.LoadDesired(repoDesired)
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	// The vendors' sites on loopback: the desired images resolve and
	// download from there, pinned checksums pinned to its bytes.
	h.mirror, h.mirrors = startImageMirror(t)
	pinImages(h.d, h.mirror)
	// The base VMs the clone builds start from, as an operator made them.
	for i, name := range []string{"base-ubuntu-22.04", "base-ubuntu-24.04", "base-rocky-9"} {
		if err := h.c.Add(proxmoxfake.VM{VMID: 8000 + i, Node: "pve1", Name: name, Template: true}); err != nil {
			t.Fatal(err)
		}
	}
	evidence, key := filepath.Join(base, "evidence"), filepath.Join(base, "ledger.key")
	if _, err := ledger.CreateKey(evidence, key, "templated/test/packer-ledger"); err != nil {
		t.Fatal(err)
	}
	h.set = Settings{DesiredPath: repoDesired, StateDir: filepath.Join(base, "state"), EvidenceDir: evidence,
		LedgerKey: key, Parallel: 4, Version: "test", Cluster: h.c, Tools: h.tools,
		ImageMirrors: h.mirrors, ImageClient: &http.Client{Transport: loopbackOnly{http.DefaultTransport}}}
	return h
}

func (h *harness) open(t *testing.T) *Session {
	t.Helper()
	sess, err := Open(context.Background(), h.set)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sess.Close)
	return sess
}

// entries returns the ledger's entries of kind k.
func (h *harness) entries(t *testing.T, k ledger.Kind) []ledger.Entry {
	t.Helper()
	all, err := ledger.ReadEntries(h.set.EvidenceDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []ledger.Entry
	for _, e := range all {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

func TestReconcileBuildsEverythingMissing(t *testing.T) {
	h := newHarness(t)
	sess := h.open(t)
	var observed plan.Plan
	res, err := sess.Reconcile(context.Background(), h.d, Options{Trigger: "apply", Observed: func(p plan.Plan) { observed = p }})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Observed || observed.Summary.Create != len(h.d.Templates) || len(res.Report.Failed()) != 0 {
		t.Fatalf("observed %+v, report %+v", observed.Summary, res.Report)
	}
	id, err := journal.InstallationID(h.set.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range h.d.Templates {
		vm, ok := h.c.VM(tp.VMID)
		stamp, _ := state.StampFromTags(vm.Tags)
		if !ok || !vm.Template || stamp.Installation != id {
			t.Errorf("%s: at %d %+v, want a template stamped by installation %s", tp.Name, tp.VMID, vm, id)
		}
	}
	dec := h.entries(t, ledger.KindDecision)
	if len(dec) != 1 || dec[0].Result != "4 create, 0 rebuild" || dec[0].Reason.Detail != "apply" {
		t.Errorf("decisions %+v", dec)
	}
	if fin := h.entries(t, ledger.KindBuildFinished); len(fin) != 4 {
		t.Errorf("%d build.finished entries, want 4", len(fin))
	}
	// A second reconcile finds nothing to do, and records that; it reads
	// the cluster once and writes nothing to it, not even the lease.
	before := len(h.c.Calls())
	res, err = sess.Reconcile(context.Background(), h.d, Options{Trigger: "apply"})
	if calls := h.c.Calls()[before:]; len(calls) != 1 || calls[0] != "ListGuests" {
		t.Errorf("calls of a run with nothing to do: %v, want one ListGuests", calls)
	}
	if err != nil || res.Plan.HasChanges() || len(res.Report.Results) != 0 {
		t.Fatalf("second run: %+v, %v", res.Plan.Summary, err)
	}
	if dec := h.entries(t, ledger.KindDecision); len(dec) != 2 || dec[1].Result != "nothing-to-do" {
		t.Errorf("decisions %+v", dec)
	}
}

func TestReconcileOneFailureDoesNotStopTheOthers(t *testing.T) {
	h := newHarness(t)
	h.tools.fail["tpl-rocky-9"] = errors.New("packer: boot command timed out")
	res, err := h.open(t).Reconcile(context.Background(), h.d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	failed := res.Report.Failed()
	if len(failed) != 1 || failed[0].Template != "tpl-rocky-9" || len(res.Report.Results) != 4 {
		t.Fatalf("report %+v", res.Report)
	}
	if _, ok := h.c.VM(9002); ok {
		t.Error("a failed create left something at the reserved VMID")
	}
	for _, vmid := range []int{9000, 9001, 9100} {
		if _, ok := h.c.VM(vmid); !ok {
			t.Errorf("no template at %d", vmid)
		}
	}
	out := Outcome(res.Plan, res.Report, time.Now())
	for _, to := range out.Templates {
		want := daemon.BuildSuccess
		if to.Name == "tpl-rocky-9" {
			want = daemon.BuildFailure
		}
		if to.Build != want {
			t.Errorf("%s: outcome %s, want %s", to.Name, to.Build, want)
		}
	}
}

func TestReconcileClusterUnreachable(t *testing.T) {
	h := newHarness(t)
	down := proxmox.NewError(proxmox.ErrUnreachable, 0, "dial tcp 127.0.0.1:8006: connection refused")
	h.c.SetFuncs(proxmoxfake.Funcs{ListGuests: func(context.Context) error { return down }})
	sess := h.open(t)
	res, err := sess.Reconcile(context.Background(), h.d, Options{})
	if !errors.Is(err, proxmox.ErrUnreachable) || res.Observed {
		t.Fatalf("err %v, observed %v", err, res.Observed)
	}
	if len(h.tools.built()) != 0 || len(h.entries(t, ledger.KindDecision)) != 0 {
		t.Error("something was built or decided without an observation")
	}
	r := &DaemonReconciler{Session: sess, Log: sess.set.Log}
	observed := false
	out, err := r.Reconcile(context.Background(), daemon.Request{Desired: h.d, Observed: func() { observed = true }})
	if !daemon.IsUnreachable(err) || out.Observed || out.APIErrors != 1 || observed {
		t.Errorf("daemon: outcome %+v, err %v, observed %v", out, err, observed)
	}
}

func TestReconcileDeclined(t *testing.T) {
	h := newHarness(t)
	asked := 0
	res, err := h.open(t).Reconcile(context.Background(), h.d, Options{Trigger: "apply",
		Confirm: func(p plan.Plan) (bool, error) { asked++; return false, nil }})
	if err != nil || !res.Declined || asked != 1 {
		t.Fatalf("declined %v, asked %d, err %v", res.Declined, asked, err)
	}
	// Nothing but the cluster lease (at the staging range's last VMID) was
	// touched; the cluster was only read.
	for _, c := range h.c.Calls() {
		if c != "ListGuests" && !strings.HasSuffix(c, " 9949") {
			t.Errorf("call %q after a declined plan", c)
		}
	}
	if b := h.tools.built(); len(b) != 0 {
		t.Errorf("built %v", b)
	}
	if _, ok := h.c.VM(9949); ok {
		t.Error("the cluster lease was not released")
	}
	dec := h.entries(t, ledger.KindDecision)
	if len(dec) != 1 || !strings.HasPrefix(dec[0].Result, "declined") {
		t.Errorf("decisions %+v, want one declined", dec)
	}
}

func TestReconcileRecoversTheJournalFirst(t *testing.T) {
	h := newHarness(t)
	// A build of tpl-ubuntu-22.04 was killed while Packer ran at 9900.
	if err := h.c.Add(proxmoxfake.VM{VMID: 9900, Node: "pve1", Name: "tpl-ubuntu-22.04-stg-9900"}); err != nil {
		t.Fatal(err)
	}
	j, err := journal.OpenJournal(h.set.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour)
	if err := j.Put(journal.Op{Kind: "build", Template: "tpl-ubuntu-22.04", BuildID: "b-killed", Node: "pve1",
		VMID: 9000, Staging: 9900, Step: journal.StepBuilding, Started: at, Updated: at}); err != nil {
		t.Fatal(err)
	}
	recovered := 0
	var planned plan.Plan
	res, err := h.open(t).Reconcile(context.Background(), h.d, Options{
		OnRecover: func(n int) { recovered = n },
		Observed:  func(p plan.Plan) { planned = p },
	})
	if err != nil {
		t.Fatal(err)
	}
	if recovered != 1 {
		t.Errorf("OnRecover told %d operations, want 1", recovered)
	}
	if pending, _ := j.Pending(); len(pending) != 0 {
		t.Errorf("journal still holds %+v", pending)
	}
	// The plan came after recovery: the abandoned staging VM was gone
	// and every template, the interrupted one included, was created.
	if planned.Summary.Create != 4 || len(res.Report.Failed()) != 0 {
		t.Errorf("plan %+v, report %+v", planned.Summary, res.Report)
	}
	if rec := h.entries(t, ledger.Kind("recover")); len(rec) == 0 {
		t.Error("no recover entry in the ledger")
	}
}

// TestDaemonOutcome: the daemon's view of a run: per-template result,
// drift, and suspended templates blocked, not built.
func TestDaemonOutcome(t *testing.T) {
	h := newHarness(t)
	sess := h.open(t)
	if _, err := sess.Reconcile(context.Background(), h.d, Options{}); err != nil {
		t.Fatal(err)
	}
	d := *h.d
	d.Templates = append([]state.Template(nil), h.d.Templates...)
	for i := range d.Templates {
		switch d.Templates[i].Name {
		case "tpl-ubuntu-24.04":
			d.Templates[i].MemoryMiB *= 2 // drifted: rebuilt
		case "tpl-rocky-9":
			d.Templates[i].Suspended, d.Templates[i].SuspendReason = true, "3 failed builds"
			d.Templates[i].MemoryMiB *= 2 // drifted, but suspended
		}
	}
	r := &DaemonReconciler{Session: sess, Log: sess.set.Log}
	observed := 0
	out, err := r.Reconcile(context.Background(), daemon.Request{Desired: &d, Suspended: map[string]string{"tpl-rocky-9": "3 failed builds"},
		Observed: func() { observed++ }})
	if err != nil || !out.Observed || observed != 1 {
		t.Fatalf("outcome %+v, err %v, observed %d", out, err, observed)
	}
	got := map[string]daemon.TemplateOutcome{}
	for _, to := range out.Templates {
		got[to.Name] = to
	}
	if o := got["tpl-ubuntu-24.04"]; o.Action != daemon.ActionRebuild || o.Build != daemon.BuildSuccess || o.Drift != "none" {
		t.Errorf("rebuilt: %+v", o)
	}
	if o := got["tpl-rocky-9"]; o.Action != daemon.ActionBlocked || o.Build != daemon.BuildNone || o.Drift != "blocked" {
		t.Errorf("suspended: %+v", o)
	}
	if o := got["tpl-ubuntu-22.04"]; o.Action != daemon.ActionKeep || o.Build != daemon.BuildNone || o.Drift != "none" || o.BuiltAt.IsZero() {
		t.Errorf("kept: %+v", o)
	}
	if b := h.tools.built(); len(b) != 5 || b[4] != "tpl-ubuntu-24.04" {
		t.Errorf("builds %v: want the four creates, then tpl-ubuntu-24.04 alone", b)
	}
}

// TestReconcileRefusedWhileAnotherInstallationHoldsTheLease: a second
// installation on the same cluster refuses, naming the holder, builds
// nothing, and goes ahead once the lease is released.
func TestReconcileRefusedWhileAnotherInstallationHoldsTheLease(t *testing.T) {
	h := newHarness(t)
	other, err := lease.Acquire(context.Background(), h.c, lease.Options{Node: "pve1", VMID: 9949, Holder: "bbbbbbbbbbbb", Host: "ctl-2"})
	if err != nil {
		t.Fatal(err)
	}
	sess := h.open(t)
	_, err = sess.Reconcile(context.Background(), h.d, Options{})
	var held *lease.HeldError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "bbbbbbbbbbbb") || !strings.Contains(err.Error(), "ctl-2") {
		t.Fatalf("err %v: want the holder named", err)
	}
	if b := h.tools.built(); len(b) != 0 {
		t.Fatalf("built %v under another installation's lease", b)
	}
	// The daemon: the cluster was read (ready), the run failed naming the
	// holder, and it is no reason to back off as from an unreachable one.
	observed := 0
	dr := &DaemonReconciler{Session: sess, Log: sess.set.Log}
	out, err := dr.Reconcile(context.Background(), daemon.Request{Desired: h.d, Observed: func() { observed++ }})
	if !errors.As(err, &held) || daemon.IsUnreachable(err) || !out.Observed || observed != 1 {
		t.Fatalf("daemon run under another's lease: outcome %+v, err %v, observed %d", out, err, observed)
	}
	if err := other.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := sess.Reconcile(context.Background(), h.d, Options{})
	if err != nil || len(res.Report.Results) != 4 {
		t.Fatalf("after release: %+v, %v", res.Report, err)
	}
	if _, ok := h.c.VM(9949); ok {
		t.Error("the session did not release its lease")
	}
}

// TestDaemonAudit: the daemon's background check verifies the whole
// ledger, records a ledger.verify entry, and finds tampering deep in the
// history that Open does not read.
func TestDaemonAudit(t *testing.T) {
	h := newHarness(t)
	sess := h.open(t)
	if _, err := sess.Reconcile(context.Background(), h.d, Options{}); err != nil {
		t.Fatal(err)
	}
	r := &DaemonReconciler{Session: sess, Log: sess.set.Log}
	res, err := r.Audit(context.Background())
	if err != nil || !res.Intact || res.Status != "intact" || res.Entries == 0 {
		t.Fatalf("audit of a clean ledger: %+v, %v", res, err)
	}
	if got := h.entries(t, ledger.KindLedgerVerify); len(got) != 1 || got[0].Result != "intact" {
		t.Fatalf("ledger.verify entries %+v", got)
	}
	// Someone edits an old entry in place.
	entries := filepath.Join(h.set.EvidenceDir, "ledger", "entries.jsonl")
	raw, err := os.ReadFile(entries)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(entries, bytes.Replace(raw, []byte(`"4 create, 0 rebuild"`), []byte(`"0 create, 0 rebuild"`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = r.Audit(context.Background())
	if err != nil || res.Intact || res.Status != "tampered" || res.First == "" {
		t.Fatalf("audit of a tampered ledger: %+v, %v", res, err)
	}
}

// TestPluginUpgradeRebuilds: templates built with plugin 1.1.1 are rebuilt
// with the reason plugin-changed once 1.2.4 is installed, and stamped with
// the new plugin.
func TestPluginUpgradeRebuilds(t *testing.T) {
	h := newHarness(t)
	sess := h.open(t)
	if _, err := sess.Reconcile(context.Background(), h.d, Options{}); err != nil {
		t.Fatal(err)
	}
	h.tools.mu.Lock()
	h.tools.plugin = "1.2.4"
	h.tools.mu.Unlock()
	p, err := sess.Plan(context.Background(), h.d)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range p.Actions {
		if a.Kind != plan.Rebuild || len(a.Reasons) == 0 || a.Reasons[0].Code != plan.ReasonPluginChanged {
			t.Errorf("%s: %s %+v, want a rebuild for plugin-changed", a.Template, a.Kind, a.Reasons)
		}
	}
	if _, err := sess.Reconcile(context.Background(), h.d, Options{}); err != nil {
		t.Fatal(err)
	}
	vm, _ := h.c.VM(9000)
	if s, _ := state.StampFromTags(vm.Tags); s.Plugin != "1.2.4" {
		t.Errorf("stamp after the rebuild: plugin %q, want 1.2.4", s.Plugin)
	}
	if p, _ := sess.Plan(context.Background(), h.d); p.HasChanges() {
		t.Errorf("plan after the rebuild still changes: %+v", p.Summary)
	}
}

// TestMissingCloneSourceBlocks: a clone build whose base VM is on no node
// is blocked with clone-source-missing before Packer runs; the others go
// on.
func TestMissingCloneSourceBlocks(t *testing.T) {
	h := newHarness(t)
	withoutImages(h.d)                                                     // the var files' base VMs
	if err := h.c.Delete(context.Background(), "pve1", 8002); err != nil { // base-rocky-9
		t.Fatal(err)
	}
	res, err := h.open(t).Reconcile(context.Background(), h.d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range res.Plan.Actions {
		blocked := a.Kind == plan.Blocked && a.Reasons[0].Code == plan.ReasonCloneSourceMissing &&
			strings.Contains(a.Reasons[0].Message, "base-rocky-9")
		if blocked != (a.Template == "tpl-rocky-9") {
			t.Errorf("%s: %s %+v", a.Template, a.Kind, a.Reasons)
		}
	}
	if b := h.tools.built(); slices.Contains(b, "tpl-rocky-9") || len(b) != 3 {
		t.Errorf("built %v: want the three others, not tpl-rocky-9", b)
	}
}
