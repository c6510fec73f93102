package main

// End-to-end tests of apply, rollback, resume and adopt: the built binary,
// the real Packer (from .tools; skipped when missing unless
// TEMPLATED_REQUIRE_PACKER is set) and the simulator. The helpers here are
// shared with apply_faults_e2e_test.go.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"templated/internal/journal"
	"templated/internal/ledger"
	"templated/internal/plan"
	"templated/internal/pvesim"
	"templated/internal/state"
)

// linuxTemplates are the templates with clone builds from base VMs.
var linuxTemplates = []string{"tpl-ubuntu-22.04", "tpl-ubuntu-24.04", "tpl-rocky-9"}

// allTemplates is every template of the repository's desired file.
var allTemplates = append(append([]string(nil), linuxTemplates...), "tpl-win2022")

func (e *e2e) evidenceDir() string { return filepath.Join(e.dir, "evidence") }
func (e *e2e) stateDir() string    { return filepath.Join(e.dir, "state") }

// initLedger creates the ledger and its signing key, as an operator would
// before the first apply.
func (e *e2e) initLedger() {
	e.t.Helper()
	r := e.run("ledger", "init", "--dir", e.evidenceDir(), "--key", filepath.Join(e.dir, "keys", "ledger.key"))
	if r.code != 0 {
		e.t.Fatalf("ledger init:\n%s", r)
	}
}

// templateBlocks splits the desired file into its head (up to and with
// "templates:") and one block per template, keyed by name.
func templateBlocks(text string) (head string, names []string, blocks map[string]string) {
	head, rest, ok := strings.Cut(text, "\ntemplates:\n")
	if !ok {
		return text, nil, nil
	}
	head += "\ntemplates:\n"
	blocks = map[string]string{}
	for _, b := range strings.Split("\n"+rest, "\n  - name: ")[1:] {
		name, _, _ := strings.Cut(b, "\n")
		name = strings.TrimSpace(name)
		names = append(names, name)
		blocks[name] = "  - name: " + strings.TrimRight(b, "\n") + "\n"
	}
	return head, names, blocks
}

// keepTemplates trims the repository copy's desired file to the named
// templates, each with extra lines (such as "build_timeout: 30s") added.
func (e *e2e) keepTemplates(extra map[string][]string, names ...string) {
	e.t.Helper()
	e.edit("desired/templates.yaml", func(s string) string {
		head, _, blocks := templateBlocks(s)
		out := head
		for _, n := range names {
			b, ok := blocks[n]
			if !ok {
				e.t.Fatalf("no template %s in the desired file", n)
			}
			out += b
			for _, l := range extra[n] {
				out += "    " + l + "\n"
			}
			out += "\n"
		}
		return out
	})
}

// proc is a templated run in the background.
type proc struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	err  bytes.Buffer
	done chan struct{}
	res  result
}

// start runs templated with args in the background.
func (e *e2e) start(args ...string) *proc {
	e.t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Dir, p.cmd.Env = e.repo, e.env
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
	if err := p.cmd.Start(); err != nil {
		e.t.Fatalf("start templated %v: %v", args, err)
	}
	go func() {
		defer close(p.done)
		err := p.cmd.Wait()
		p.res = result{stdout: p.out.String(), stderr: p.err.String(), code: p.cmd.ProcessState.ExitCode()}
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			p.res.code, p.res.stderr = -2, p.res.stderr+"\nwait: "+err.Error()
		}
	}()
	e.t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits (at most 5 minutes) for the run to end.
func (p *proc) wait(t testing.TB) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(5 * time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("templated did not finish in 5 minutes:\n%s", p.res)
	}
	return p.res
}

// op reads template's operation from the journal.
func (e *e2e) op(name string) (journal.Op, bool) {
	j, err := journal.OpenJournal(e.stateDir())
	if err != nil {
		return journal.Op{}, false
	}
	op, ok, err := j.Get(name)
	return op, ok && err == nil
}

// waitOp polls the journal until template's operation satisfies ok, and
// fails the test if p ends first.
func (e *e2e) waitOp(p *proc, name string, ok func(journal.Op) bool) journal.Op {
	e.t.Helper()
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) {
		if op, found := e.op(name); found && ok(op) {
			return op
		}
		if p.exited() {
			e.t.Fatalf("templated ended before %s's journal reached the awaited state:\n%s", name, p.res)
		}
		time.Sleep(2 * time.Millisecond)
	}
	e.t.Fatalf("%s's journal never reached the awaited state", name)
	return journal.Op{}
}

// atStep matches an operation at step.
func atStep(s journal.Step) func(journal.Op) bool {
	return func(op journal.Op) bool { return op.Step == s }
}

// guestTags splits the simulator's stored tags.
func guestTags(g pvesim.Guest) []string {
	if g.Tags == "" {
		return nil
	}
	return strings.Split(g.Tags, ";")
}

// checkTemplate reports what is wrong with vmid as a working template
// named name: a template, unlocked, stamped by templated, with a disk, the
// guest agent and a cloud-init drive. It returns the stamp.
func (e *e2e) checkTemplate(vmid int, name string) (state.Stamp, []string) {
	g, ok := e.sim.Cluster().Guest(vmid)
	if !ok {
		return state.Stamp{}, []string{"VMID " + strconv.Itoa(vmid) + " is empty"}
	}
	var bad []string
	if !g.Template {
		bad = append(bad, "not a template")
	}
	if g.Name != name {
		bad = append(bad, "named "+g.Name)
	}
	if g.Lock != "" {
		bad = append(bad, "locked ("+g.Lock+")")
	}
	if _, owned := state.StampFromTags(guestTags(g)); !owned {
		bad = append(bad, "no templated stamp in tags "+g.Tags)
	}
	s, ok := state.StampFromDescription(g.Description)
	if !ok {
		bad = append(bad, "no stamp in the description")
	}
	var disk, cloudInit bool
	for k, v := range g.Config {
		if strings.Contains(v, "cloudinit") {
			cloudInit = true
		} else if strings.HasPrefix(k, "scsi") || strings.HasPrefix(k, "virtio") || strings.HasPrefix(k, "sata") {
			disk = disk || strings.Contains(v, "size=")
		}
	}
	if !disk {
		bad = append(bad, "no disk")
	}
	if !cloudInit {
		bad = append(bad, "no cloud-init drive")
	}
	if a := g.Config["agent"]; a != "1" && !strings.Contains(a, "enabled=1") && !strings.HasPrefix(a, "1,") {
		bad = append(bad, "guest agent off ("+a+")")
	}
	return s, bad
}

// template asserts that t's reserved VMID holds a working template and
// returns its stamp.
func (e *e2e) template(name string) state.Stamp {
	e.t.Helper()
	t, ok := e.desired().Template(name)
	if !ok {
		e.t.Fatalf("no %s in the desired file", name)
	}
	s, bad := e.checkTemplate(t.VMID, t.Name)
	if len(bad) > 0 {
		e.t.Fatalf("VMID %d is not a working %s template: %s", t.VMID, name, strings.Join(bad, "; "))
	}
	return s
}

// inRange lists the guests in r, by VMID.
func (e *e2e) inRange(r state.Range) []pvesim.Guest {
	var out []pvesim.Guest
	for _, g := range e.sim.Cluster().Guests() {
		if g.VMID >= r.First && g.VMID <= r.Last {
			out = append(out, g)
		}
	}
	return out
}

// noStaging asserts that no guest is left in the staging range.
func (e *e2e) noStaging() {
	e.t.Helper()
	for _, g := range e.inRange(e.desired().VMIDs.Staging) {
		e.t.Errorf("staging VM left: %d %q (lock %q, tags %s)", g.VMID, g.Name, g.Lock, g.Tags)
	}
}

// ledgerVerifies asserts that `templated ledger verify` exits 0.
func (e *e2e) ledgerVerifies() {
	e.t.Helper()
	if r := e.run("ledger", "verify", "--dir", e.evidenceDir()); r.code != 0 {
		e.t.Fatalf("ledger verify:\n%s", r)
	}
}

// settled asserts the invariants every run must leave: each named template
// works at its reserved VMID, no staging VM is left, the journal is empty
// and the ledger verifies.
func (e *e2e) settled(names ...string) {
	e.t.Helper()
	for _, n := range names {
		e.template(n)
	}
	e.noStaging()
	if ops, err := os.ReadDir(filepath.Join(e.stateDir(), "ops")); err == nil {
		for _, o := range ops {
			if strings.HasSuffix(o.Name(), ".json") {
				b, _ := os.ReadFile(filepath.Join(e.stateDir(), "ops", o.Name()))
				e.t.Errorf("journal still holds an operation: %s", b)
			}
		}
	}
	e.ledgerVerifies()
}

// planExit runs plan --detailed-exitcode and returns its exit code.
func (e *e2e) planExit() int {
	e.t.Helper()
	r := e.run("plan", "--detailed-exitcode")
	if r.code == 1 {
		e.t.Fatalf("plan failed:\n%s", r)
	}
	return r.code
}

// apply runs apply --auto-approve with extra args and wants exit code want.
func (e *e2e) apply(want int, args ...string) result {
	e.t.Helper()
	r := e.run(append([]string{"apply", "--auto-approve"}, args...)...)
	if r.code != want {
		e.t.Fatalf("apply %v: exit %d, want %d:\n%s", args, r.code, want, r)
	}
	return r
}

// previousOf lists name's versions kept in the previous range.
func (e *e2e) previousOf(name string) []pvesim.Guest {
	var out []pvesim.Guest
	for _, g := range e.inRange(e.desired().VMIDs.Previous) {
		if strings.HasPrefix(g.Name, name+"-prev-") {
			out = append(out, g)
		}
	}
	return out
}

// stampOf reads the description stamp of a simulator guest.
func stampOf(g pvesim.Guest) state.Stamp {
	s, _ := state.StampFromDescription(g.Description)
	return s
}

// secretScan watches every process's command line while p runs and
// records the programs among p's descendants, for the token check.
type secretScan struct {
	mu       sync.Mutex
	seen     map[string]bool // base names of p's descendants' argv[0]
	leaks    []string        // command lines that held the secret
	scans    int
	duringPk int // scans made while one of p's descendants was Packer
}

// scanProcesses reads /proc every few milliseconds until p ends.
func scanProcesses(p *proc, secret string) *secretScan {
	s := &secretScan{seen: map[string]bool{}}
	root := p.cmd.Process.Pid
	for !p.exited() {
		parents := map[int]int{}
		cmdlines := map[int]string{}
		entries, _ := os.ReadDir("/proc")
		for _, d := range entries {
			pid, err := strconv.Atoi(d.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
			if err != nil {
				continue
			}
			cmdlines[pid] = string(b)
			if st, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat")); err == nil {
				// pid (comm) state ppid ...; comm may hold spaces.
				if i := bytes.LastIndexByte(st, ')'); i > 0 {
					if f := strings.Fields(string(st[i+1:])); len(f) > 1 {
						parents[pid], _ = strconv.Atoi(f[1])
					}
				}
			}
		}
		packerSeen := false
		for pid, cl := range cmdlines {
			if ledger.ContainsSecret([]byte(cl), secret) {
				s.leaks = append(s.leaks, strings.ReplaceAll(cl, "\x00", " "))
			}
			if !descends(parents, pid, root) {
				continue
			}
			argv0, _, _ := strings.Cut(cl, "\x00")
			name := filepath.Base(argv0)
			s.seen[name] = true
			packerSeen = packerSeen || name == "packer"
		}
		s.scans++
		if packerSeen {
			s.duringPk++
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s
}

func descends(parents map[int]int, pid, root int) bool {
	for i := 0; i < 16 && pid > 1; i++ {
		if pid == root {
			return true
		}
		pid = parents[pid]
	}
	return false
}

func TestApplyE2E(t *testing.T) {
	t.Parallel()
	e := newE2E(t, true, pvesim.Options{})
	templates := allTemplates
	e.initLedger()
	secret := e.sim.TokenSecret()

	// A fresh cluster gets every template; the token stays out of every
	// command line while the builds run.
	p := e.start("apply", "--auto-approve", "--parallel", "4")
	scan := scanProcesses(p, secret)
	r := p.wait(t)
	if r.code != 0 {
		t.Fatalf("first apply:\n%s", r)
	}
	for _, n := range templates {
		if !strings.Contains(r.stdout, "✓ "+n+": create in") {
			t.Errorf("no success line for %s:\n%s", n, r.stdout)
		}
	}
	if len(scan.leaks) > 0 {
		t.Errorf("the token is in a process's command line: %q", scan.leaks)
	}
	if scan.duringPk == 0 || !scan.seen["packer"] || !anyPrefix(scan.seen, "packer-plugin-proxmox") {
		t.Errorf("the scan never saw Packer and its plugin running (%d scans, programs %v)", scan.scans, scan.seen)
	}
	if code := e.planExit(); code != 0 {
		t.Fatalf("plan after apply: exit %d", code)
	}
	e.settled(templates...)
	built := map[string]state.Stamp{}
	for _, n := range templates {
		built[n] = e.template(n)
		if len(e.previousOf(n)) != 0 {
			t.Errorf("%s: a create kept a previous version: %+v", n, e.previousOf(n))
		}
	}
	assertNoSecret(t, secret, r, e.evidenceDir(), e.stateDir())

	// One Packer file of the Ubuntu family edited and Rocky's release
	// bumped: the plan rebuilds exactly those, for those reasons.
	e.edit("packer/linux/ubuntu/http/user-data.pkrtpl", func(s string) string { return s + "\n# e2e: tuned\n" })
	e.edit("desired/templates.yaml", func(s string) string {
		head, names, blocks := templateBlocks(s)
		blocks["tpl-rocky-9"] = strings.Replace(blocks["tpl-rocky-9"], "release: 1.0.0", "release: 1.1.0", 1)
		for _, n := range names {
			head += blocks[n] + "\n"
		}
		return head
	})
	pl, pr := e.planJSON()
	if pr.code != 2 {
		t.Fatalf("plan after the edits:\n%s", pr)
	}
	expect(t, pl, map[string][2]string{
		"tpl-ubuntu-22.04": {"rebuild", plan.ReasonInputsChanged},
		"tpl-ubuntu-24.04": {"rebuild", plan.ReasonInputsChanged},
		"tpl-rocky-9":      {"rebuild", plan.ReasonReleaseBumped},
	})
	r = e.apply(0, "--parallel", "4")
	if n := strings.Count(r.stdout, ": rebuild in "); n != 3 {
		t.Errorf("%d rebuilds, want 3:\n%s", n, r.stdout)
	}
	if code := e.planExit(); code != 0 {
		t.Fatalf("plan after the rebuild: exit %d", code)
	}
	e.settled(templates...)
	assertNoSecret(t, secret, r, e.evidenceDir(), e.stateDir())

	// Each rebuilt template's old version sits in the previous range.
	for _, n := range linuxTemplates {
		now := e.template(n)
		if now.BuildID == built[n].BuildID {
			t.Errorf("%s was not rebuilt (build %s)", n, now.BuildID)
		}
		prev := e.previousOf(n)
		if len(prev) != 1 {
			t.Fatalf("%s: %d previous versions, want 1 (keep_previous 1): %+v", n, len(prev), prev)
		}
		g := prev[0]
		if !g.Template || !strings.Contains(g.Tags, state.TagPrevious) || stampOf(g).BuildID != built[n].BuildID {
			t.Errorf("%s: previous version %d (%q, tags %s) is not the old build %s", n, g.VMID, g.Name, g.Tags, built[n].BuildID)
		}
	}
	if w, ok := e.desired().Template("tpl-win2022"); ok {
		if s := e.template(w.Name); s.BuildID != built[w.Name].BuildID {
			t.Errorf("tpl-win2022 was rebuilt although none of its inputs changed")
		}
	}
	rockyNew := e.template("tpl-rocky-9")

	// Rollback puts the old Rocky back and holds it; resume releases it.
	r = e.run("rollback", "tpl-rocky-9")
	if r.code != 0 || !strings.Contains(r.stdout, "tpl-rocky-9 rolled back") {
		t.Fatalf("rollback:\n%s", r)
	}
	if s := e.template("tpl-rocky-9"); s.BuildID != built["tpl-rocky-9"].BuildID || s.Release != "1.0.0" {
		t.Fatalf("after rollback 9002 holds build %s release %s, want build %s release 1.0.0", s.BuildID, s.Release, built["tpl-rocky-9"].BuildID)
	}
	if prev := e.previousOf("tpl-rocky-9"); len(prev) != 1 || stampOf(prev[0]).BuildID != rockyNew.BuildID {
		t.Errorf("after rollback the rolled-back build %s should be the previous version: %+v", rockyNew.BuildID, prev)
	}
	e.settled(templates...)
	pl, _ = e.planJSON()
	expect(t, pl, map[string][2]string{"tpl-rocky-9": {"blocked", plan.ReasonHeld}})
	r = e.apply(0)
	if !strings.Contains(r.stdout, "tpl-rocky-9 (9002) is blocked") {
		t.Errorf("apply does not show the held template as blocked:\n%s", r.stdout)
	}
	if s := e.template("tpl-rocky-9"); s.BuildID != built["tpl-rocky-9"].BuildID {
		t.Fatalf("apply rebuilt a held template")
	}
	if r = e.run("resume", "tpl-rocky-9"); r.code != 0 || !strings.Contains(r.stdout, "tpl-rocky-9 resumed") {
		t.Fatalf("resume:\n%s", r)
	}
	pl, _ = e.planJSON()
	expect(t, pl, map[string][2]string{"tpl-rocky-9": {"rebuild", plan.ReasonReleaseBumped}})
	show := e.run("ledger", "show", "--dir", e.evidenceDir(), "tpl-rocky-9")
	for _, kind := range []string{"rollback", "resume", "swap"} {
		if !strings.Contains(show.stdout, kind) {
			t.Errorf("ledger show has no %s entry:\n%s", kind, show)
		}
	}
	e.ledgerVerifies()
	assertNoSecret(t, secret, r, e.evidenceDir(), e.stateDir())
}

func anyPrefix(set map[string]bool, prefix string) bool {
	for k := range set {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// assertNoSecret checks a run's output and every file under dirs for the
// token secret, in any encoding ledger.ContainsSecret knows.
func assertNoSecret(t *testing.T, secret string, r result, dirs ...string) {
	t.Helper()
	if ledger.ContainsSecret([]byte(r.stdout+r.stderr), secret) {
		t.Errorf("the token secret is in templated's output")
	}
	for _, d := range dirs {
		hits, err := ledger.FindSecret(d, secret)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) > 0 {
			t.Errorf("the token secret is in %v under %s", hits, d)
		}
	}
}

func TestAdoptE2E(t *testing.T) {
	t.Parallel()
	e := newE2E(t, true, pvesim.Options{})
	e.keepTemplates(nil, "tpl-rocky-9")
	e.initLedger()
	// A template made by hand before templated, at Rocky's reserved VMID.
	if err := e.sim.Cluster().AddGuest(pvesim.GuestSpec{VMID: 9002, Node: "pve1", Name: "rocky9-golden", Template: true,
		Tags: "golden", Description: "built by hand, 2024",
		Config: map[string]string{"cores": "2", "sockets": "1", "memory": "2048", "agent": "1", "ostype": "l26",
			"scsi0": "local-lvm:base-9002-disk-0,size=20G", "ide2": "local-lvm:vm-9002-cloudinit,media=cdrom"}}); err != nil {
		t.Fatal(err)
	}
	pl, _ := e.planJSON()
	if a := action(t, pl, "tpl-rocky-9"); a.Kind != plan.Blocked {
		t.Fatalf("a hand-made template must block the plan until adopted: %+v", a)
	}
	if r := e.run("adopt", "tpl-rocky-9"); r.code != 0 || !strings.Contains(r.stdout, "tpl-rocky-9 adopted") {
		t.Fatalf("adopt:\n%s", r)
	}
	g, _ := e.sim.Cluster().Guest(9002)
	if !strings.Contains(g.Tags, "golden") || !strings.Contains(g.Tags, state.TagOwner) || !strings.Contains(g.Description, "built by hand, 2024") {
		t.Errorf("adopt should stamp the template and keep its tags and description: tags %s, description %q", g.Tags, g.Description)
	}
	if r := e.run("adopt", "tpl-rocky-9"); r.code != 1 || !strings.Contains(r.stderr, "already managed") {
		t.Errorf("adopting twice:\n%s", r)
	}
	pl, _ = e.planJSON()
	expect(t, pl, map[string][2]string{"tpl-rocky-9": {"rebuild", plan.ReasonAdopted}})

	r := e.apply(0)
	if !strings.Contains(r.stdout, "✓ tpl-rocky-9: rebuild in") {
		t.Errorf("no rebuild line:\n%s", r.stdout)
	}
	if code := e.planExit(); code != 0 {
		t.Fatalf("plan after apply: exit %d", code)
	}
	e.settled("tpl-rocky-9")
	if s := e.template("tpl-rocky-9"); strings.HasPrefix(s.BuildID, "adopted-") {
		t.Errorf("9002 still holds the adopted template")
	}
	prev := e.previousOf("tpl-rocky-9")
	// (The copy carries templated's stamp only: the hand-made tags and
	// description live on in the ledger's adopt entry.)
	if len(prev) != 1 || !prev[0].Template || !strings.HasPrefix(stampOf(prev[0]).BuildID, "adopted-") {
		t.Fatalf("the hand-made template is not kept as the previous version: %+v", prev)
	}
	// And it can be rolled back to.
	if r := e.run("rollback", "tpl-rocky-9"); r.code != 0 {
		t.Fatalf("rollback to the hand-made template:\n%s", r)
	}
	if s := e.template("tpl-rocky-9"); !strings.HasPrefix(s.BuildID, "adopted-") {
		t.Errorf("rollback did not restore the hand-made template: %+v", s)
	}
	e.ledgerVerifies()
}

// seedPrevious puts a previous version of t at vmid, as a rebuild would
// have kept it, built at builtAt as build buildID.
func (e *e2e) seedPrevious(t state.Template, vmid int, buildID string, builtAt time.Time) {
	e.t.Helper()
	s := state.Stamp{Template: t.Name, Release: "0.9.0", InputsHash: "00000000000000000000000000000000000000000000000000000000000000aa",
		BuiltAt: builtAt.UTC().Truncate(time.Second), BuildID: buildID, Role: state.RolePrevious}
	name := t.Name + "-prev-" + strconv.Itoa(vmid)
	if err := e.sim.Cluster().AddGuest(pvesim.GuestSpec{VMID: vmid, Node: "pve1", Name: name, Template: true,
		Tags: strings.Join(s.Tags(), ";"), Description: s.Description(),
		Config: map[string]string{"cores": "2", "sockets": "1", "memory": "2048", "agent": "1", "ostype": "l26",
			"scsi0": "local-lvm:base-" + strconv.Itoa(vmid) + "-disk-0,size=20G", "ide2": "local-lvm:vm-" + strconv.Itoa(vmid) + "-cloudinit,media=cdrom"}}); err != nil {
		e.t.Fatal(err)
	}
}

// TestRollbackE2E covers rollback's refusals and a rollback undone by a
// second one, on seeded versions (no build, so the stub Packer serves).
// TestApplyE2E rolls back a version a real rebuild kept.
func TestRollbackE2E(t *testing.T) {
	t.Parallel()
	e := newE2E(t, false, pvesim.Options{})
	e.keepTemplates(nil, "tpl-ubuntu-22.04", "tpl-rocky-9")
	e.initLedger()
	d := e.desired()
	ubuntu, _ := d.Template("tpl-ubuntu-22.04")
	rocky, _ := d.Template("tpl-rocky-9")
	e.seedBuilt(d, ubuntu, recently(), "")
	e.seedBuilt(d, rocky, recently(), "")

	// Nothing to roll back to.
	if r := e.run("rollback", "tpl-rocky-9"); r.code != 1 || !strings.Contains(r.stderr, "no previous version") {
		t.Fatalf("rollback without a previous version:\n%s", r)
	}
	if r := e.run("rollback", "tpl-nope-1"); r.code == 0 {
		t.Fatalf("rollback of an unknown template succeeded:\n%s", r)
	}

	// Two previous versions: the newest is restored.
	e.seedPrevious(ubuntu, 9950, "older", time.Now().Add(-72*time.Hour))
	e.seedPrevious(ubuntu, 9951, "newer", time.Now().Add(-24*time.Hour))
	// A linked clone of the current template: replacing it would break it.
	if err := e.sim.Cluster().AddLinkedClone(9000, 150, "app-1"); err != nil {
		t.Fatal(err)
	}
	if r := e.run("rollback", "tpl-ubuntu-22.04"); r.code != 1 || !strings.Contains(r.stderr, "linked clones") {
		t.Fatalf("rollback over linked clones:\n%s", r)
	}
	if s := e.template("tpl-ubuntu-22.04"); s.BuildID != "seed" {
		t.Fatalf("a refused rollback changed 9000: %+v", s)
	}
	// Refused before anything was touched: nothing is left for a later run
	// to carry out.
	if op, ok := e.op("tpl-ubuntu-22.04"); ok {
		t.Fatalf("a refused rollback left a journal entry: %+v", op)
	}
	if err := e.sim.Cluster().RemoveGuest(150); err != nil {
		t.Fatal(err)
	}

	if r := e.run("rollback", "tpl-ubuntu-22.04"); r.code != 0 {
		t.Fatalf("rollback:\n%s", r)
	}
	if s := e.template("tpl-ubuntu-22.04"); s.BuildID != "newer" {
		t.Fatalf("9000 holds %s, want the newest previous version", s.BuildID)
	}
	e.settled("tpl-ubuntu-22.04", "tpl-rocky-9")
	pl, _ := e.planJSON()
	expect(t, pl, map[string][2]string{"tpl-ubuntu-22.04": {"blocked", plan.ReasonHeld}})

	// The rolled-back build was kept: a second rollback undoes the first.
	if r := e.run("rollback", "tpl-ubuntu-22.04"); r.code != 0 {
		t.Fatalf("second rollback:\n%s", r)
	}
	if s := e.template("tpl-ubuntu-22.04"); s.BuildID != "seed" {
		t.Fatalf("the second rollback put %s at 9000, want the build the first one replaced", s.BuildID)
	}
	if r := e.run("resume", "tpl-ubuntu-22.04"); r.code != 0 {
		t.Fatalf("resume:\n%s", r)
	}
	if r := e.run("resume", "tpl-ubuntu-22.04"); r.code != 1 || !strings.Contains(r.stderr, "neither held nor suspended") {
		t.Fatalf("resume of a template not held:\n%s", r)
	}
	if code := e.planExit(); code != 0 {
		t.Fatalf("plan after resume: exit %d", code)
	}
	e.settled("tpl-ubuntu-22.04", "tpl-rocky-9")
}
