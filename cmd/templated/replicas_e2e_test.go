package main

// The replicas acceptance tests: a template kept on three nodes whose
// storage is local (LVM-thin on each), built once and copied to the other
// two by an offline migration; identical across a rebuild, caught up after
// a node was offline, converging after a kill -9 mid-placement, and
// touching nothing else on any node.

import (
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"templated/internal/journal"
	"templated/internal/pvesim"
	"templated/internal/state"
)

const replicated = "tpl-ubuntu-22.04"

// replicaWorld is a three-node simulator whose desired file keeps
// tpl-ubuntu-22.04 on pve1 with replicas on pve2 (9200-) and pve3 (9400-).
func replicaWorld(t testing.TB, opts pvesim.Options) *e2e {
	opts.Seed = pvesim.ThreeNodeSeed()
	e := newE2E(t, true, opts)
	e.keepTemplates(map[string][]string{replicated: {"replicas: [pve2, pve3]"}}, replicated)
	e.edit("desired/templates.yaml", func(s string) string {
		head, rest, ok := strings.Cut(s, "\n  bases: ")
		if !ok {
			t.Fatal("no vmids.bases line in the desired file")
		}
		line, tail, _ := strings.Cut(rest, "\n")
		return head + "\n  bases: " + line + "\n  replicas:\n    pve2: 9200-9399\n    pve3: 9400-9599\n" + tail
	})
	e.initLedger()
	return e
}

// copies are the template and its replicas as the desired file places them.
type copyAt struct {
	vmid       int
	node, name string
}

func (e *e2e) copies() []copyAt {
	e.t.Helper()
	tpl, ok := e.desired().Template(replicated)
	if !ok || len(tpl.Replicas) != 2 {
		e.t.Fatalf("desired %s: %+v", replicated, tpl)
	}
	out := []copyAt{{tpl.VMID, tpl.Node, tpl.Name}}
	for _, r := range tpl.Replicas {
		out = append(out, copyAt{r.VMID, r.Node, r.Name})
	}
	return out
}

// identical asserts that the template and every replica are working
// templates on their nodes, on that node's local-lvm, stamped with one
// build, and returns that build's stamp.
func (e *e2e) identical() state.Stamp {
	e.t.Helper()
	var first state.Stamp
	for i, c := range e.copies() {
		s, bad := e.checkTemplate(c.vmid, c.name)
		g, _ := e.sim.Cluster().Guest(c.vmid)
		if g.Node != c.node {
			bad = append(bad, fmt.Sprintf("on node %s, want %s", g.Node, c.node))
		}
		if !strings.HasPrefix(g.Config["scsi0"], fmt.Sprintf("local-lvm:base-%d-disk-0", c.vmid)) {
			bad = append(bad, "disk "+g.Config["scsi0"])
		}
		if len(bad) > 0 {
			e.t.Fatalf("%s at %d: %s", c.name, c.vmid, strings.Join(bad, "; "))
		}
		if i == 0 {
			first = s
			continue
		}
		if s.BuildID != first.BuildID || s.InputsHash != first.InputsHash || !s.BuiltAt.Equal(first.BuiltAt) || s.Release != first.Release {
			e.t.Fatalf("%s holds build %s (%s, %s), the template build %s (%s, %s)", c.name,
				s.BuildID, s.InputsHash, s.BuiltAt, first.BuildID, first.InputsHash, first.BuiltAt)
		}
	}
	return first
}

// bystanders snapshots every guest templated does not own: outside the
// template, replica, staging, previous and bases ranges.
func (e *e2e) bystanders() map[int]pvesim.Guest {
	d := e.desired()
	mine := []state.Range{d.VMIDs.Templates, d.VMIDs.Staging, d.VMIDs.Previous, d.VMIDs.Bases}
	mine = slices.AppendSeq(mine, maps.Values(d.VMIDs.Replicas))
	out := map[int]pvesim.Guest{}
	for _, g := range e.sim.Cluster().Guests() {
		if !slices.ContainsFunc(mine, func(r state.Range) bool { return r.Contains(g.VMID) }) {
			out[g.VMID] = g
		}
	}
	return out
}

func (e *e2e) bumpRelease(to string) {
	e.edit("desired/templates.yaml", func(s string) string {
		i := strings.Index(s, "    release: ")
		j := strings.Index(s[i:], "\n")
		return s[:i] + "    release: " + to + s[i+j:]
	})
}

// TestReplicasE2E builds a template with replicas on two other nodes,
// clones from each copy as users do, rebuilds (all three follow, each
// keeping its previous version on its node), rebuilds while pve3 is
// offline (its replica is left and reported), and catches pve3 up once
// it is back; the guests templated does not own are never touched.
func TestReplicasE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("real Packer builds; skipped with -short")
	}
	t.Parallel()
	e := replicaWorld(t, pvesim.Options{})
	e.apply(0)
	first := e.identical()
	if n := ledgerHas(e, "build.finished", "success"); n != 1 {
		t.Fatalf("%d successful builds in the ledger for one template with two replicas, want 1", n)
	}

	// Each copy is shown in status and recorded in the ledger.
	st := e.run("status", "--direct")
	for _, c := range e.copies() {
		if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(c.name) + `\s.*\b` + c.node + `\b`).MatchString(st.stdout) {
			t.Errorf("status does not show %s on %s:\n%s", c.name, c.node, st.stdout)
		}
		if c.node != "pve1" && ledgerHas(e, c.name, first.BuildID) == 0 {
			t.Errorf("the ledger does not record %s placed from build %s", c.name, first.BuildID)
		}
	}

	// Users clone from each node's copy (full clones: a linked clone of a
	// template holds its base volume, and templated never removes it).
	api := newPVEAPI(e)
	for i, c := range e.copies() {
		api.clone(c.node, c.vmid, 500+i, fmt.Sprintf("rke2-%s", c.node), true)
	}
	before := e.bystanders()
	if len(before) < 3 {
		t.Fatalf("bystanders: %v", slices.Collect(maps.Keys(before)))
	}

	// A rebuild: one build, three swaps, a previous version on each node.
	e.bumpRelease("1.1.0")
	e.apply(0)
	second := e.identical()
	if second.BuildID == first.BuildID || second.Release != "1.1.0" {
		t.Fatalf("after the rebuild: %+v (before %+v)", second, first)
	}
	for _, c := range e.copies() {
		prev := e.previousOf(c.name)
		if len(prev) != 1 || prev[0].Node != c.node || stampOf(prev[0]).BuildID != first.BuildID {
			t.Errorf("%s: previous versions %+v, want build %s on %s", c.name, prev, first.BuildID, c.node)
		}
	}
	e.noStaging()
	if code := e.planExit(); code != 0 {
		t.Fatalf("plan after the rebuild: exit %d", code)
	}

	// pve3 goes offline; a rebuild replaces the template and pve2's
	// replica, and leaves pve3's as it is, reported.
	if err := e.sim.Cluster().SetNodeStatus("pve3", "offline"); err != nil {
		t.Fatal(err)
	}
	e.bumpRelease("1.2.0")
	r := e.apply(0)
	if !strings.Contains(r.stdout, "pve3") || !strings.Contains(r.stdout, "does not answer") {
		t.Errorf("the offline node's replica is not reported:\n%s", r.stdout)
	}
	pve3 := e.copies()[2]
	if e.sim.Cluster().SetNodeStatus("pve3", "online") != nil {
		t.Fatal("pve3 back online")
	}
	if g, _ := e.sim.Cluster().Guest(pve3.vmid); stampOf(g).BuildID != second.BuildID {
		t.Fatalf("the replica on the offline node changed: %+v", g)
	}
	if code := e.planExit(); code != 2 {
		t.Fatalf("plan once pve3 is back: exit %d, want 2 (its replica to catch up)", code)
	}
	e.apply(0)
	third := e.identical()
	if third.Release != "1.2.0" {
		t.Fatalf("after the catch-up: %+v", third)
	}
	if code := e.planExit(); code != 0 {
		t.Fatalf("plan after the catch-up: exit %d", code)
	}
	e.noStaging()
	e.ledgerVerifies()

	// Nothing templated does not own was touched, on any node.
	after := e.bystanders()
	for id, g := range before {
		if a, ok := after[id]; !ok || !guestsEqual(a, g) {
			t.Errorf("guest %d changed: %+v, was %+v", id, a, g)
		}
	}
}

func guestsEqual(a, b pvesim.Guest) bool {
	return a.VMID == b.VMID && a.Node == b.Node && a.Name == b.Name && a.Template == b.Template &&
		a.Tags == b.Tags && a.Description == b.Description && a.Lock == b.Lock && maps.Equal(a.Config, b.Config)
}

// TestReplicaKillE2E kills templated with SIGKILL while a replica's copy
// is being migrated to its node, then reruns apply: the run recovers
// from the journal and every copy ends identical, with no staging VM
// left on any node.
func TestReplicaKillE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("real Packer builds; skipped with -short")
	}
	t.Parallel()
	e := replicaWorld(t, pvesim.Options{TaskDuration: 2 * time.Second})
	d := e.desired()
	tpl, _ := d.Template(replicated)
	e.seedBuilt(d, tpl, recently(), "")
	built := e.template(replicated)

	p := e.start("apply", "--auto-approve")
	pve2 := state.ReplicaName(replicated, "pve2")
	e.waitOp(p, pve2, func(op journal.Op) bool {
		return op.Step == journal.StepBuilding && migrating(e.sim)
	})
	time.Sleep(300 * time.Millisecond) // into the migration task
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if r := p.wait(t); r.code != -1 {
		t.Fatalf("templated was not killed mid-run:\n%s", r)
	}
	if op, ok := e.op(pve2); !ok || op.Step != journal.StepBuilding {
		t.Fatalf("the journal does not show the interrupted placement: %+v", op)
	}

	r := e.apply(0)
	if !strings.Contains(r.stdout, "Recovering") {
		t.Errorf("the rerun did not recover from the journal:\n%s", r.stdout)
	}
	if s := e.identical(); s.BuildID != built.BuildID {
		t.Fatalf("the copies hold build %s, want the template's %s", s.BuildID, built.BuildID)
	}
	e.noStaging()
	if code := e.planExit(); code != 0 {
		t.Fatalf("plan after the rerun: exit %d", code)
	}
	if !slices.ContainsFunc(e.sim.Requests(), func(r pvesim.Request) bool {
		return r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/migrate")
	}) {
		t.Error("no migration was requested")
	}
}

// migrating reports whether a qmigrate task runs on the simulator.
func migrating(srv *pvesim.Server) bool {
	for _, tk := range srv.Cluster().Tasks() {
		if tk.Status == "running" && tk.Type == "qmigrate" {
			return true
		}
	}
	return false
}
