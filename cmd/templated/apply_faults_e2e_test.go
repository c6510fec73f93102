package main

// Faults injected in the simulator (and so in Packer) during apply, and a
// real kill -9 of templated at each step of the swap. Every case starts
// from a cluster with a working, stale tpl-ubuntu-22.04 at 9000 (as an
// earlier apply would have left it) and ends asserting that 9000 still
// holds a working template, no staging VM is left and the ledger verifies.

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"templated/internal/journal"
	"templated/internal/pvesim"
	"templated/internal/state"
)

const faultTemplate = "tpl-ubuntu-22.04"

// staleWorld is a world with only tpl-ubuntu-22.04, built from inputs that
// no longer match, so that apply rebuilds it; extra lines go into its
// desired entry.
func staleWorld(t *testing.T, opts pvesim.Options, extra ...string) (*e2e, state.Stamp) {
	e := newE2E(t, true, opts)
	e.keepTemplates(map[string][]string{faultTemplate: extra}, faultTemplate)
	e.initLedger()
	d := e.desired()
	tpl, _ := d.Template(faultTemplate)
	e.seedBuilt(d, tpl, recently(), "0123456789ab")
	return e, e.template(faultTemplate)
}

// nextStaging is the staging VMID the next build will get: the first free
// one of the staging range, as the executor allocates.
func (e *e2e) nextStaging() int {
	e.t.Helper()
	r := e.desired().VMIDs.Staging
	for id := r.First; id <= r.Last; id++ {
		if _, used := e.sim.Cluster().Guest(id); !used {
			return id
		}
	}
	e.t.Fatalf("no free staging VMID in %d-%d", r.First, r.Last)
	return 0
}

// fault installs f or fails the test.
func (e *e2e) fault(f pvesim.Fault) int {
	e.t.Helper()
	id, err := e.sim.Faults().Add(f)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// swapFault is a case whose faults hit only templated's own calls of the
// swap. They are installed before apply starts (waiting for a journal step
// to install them races with a fast swap): a fault on the staging VMID
// skips Packer's clone to it, and Packer never touches the reserved VMID.
type swapFault struct {
	name string
	// faults makes the faults from the staging VMID the build will get.
	faults func(staging int) []pvesim.Fault
	// replaced: the new build ends at 9000 (else the old one stays).
	replaced bool
	// output the run prints (stdout).
	output string
	// neverEmpty: the reserved VMID must never have been vacant.
	neverEmpty bool
}

func TestApplyFaultsE2E(t *testing.T) {
	t.Parallel()
	vmid := 9000
	swaps := []swapFault{{
		name: "clone task fails while placing the new template",
		faults: func(stg int) []pvesim.Fault {
			return []pvesim.Fault{{Method: "POST", Path: "/nodes/*/qemu/*/clone", VMID: stg, Skip: 1, TaskExit: "clone failed: storage 'local-lvm' is full"}}
		},
		output: "the previous template was restored at VMID 9000",
	}, {
		name: "template task fails at the reserved VMID through every retry",
		faults: func(int) []pvesim.Fault {
			return []pvesim.Fault{{Method: "POST", Path: "/nodes/*/qemu/*/template", VMID: vmid, Count: 3, TaskExit: "can't convert VM to template: disk busy"}}
		},
		output: "the previous template was restored at VMID 9000",
	}, {
		name: "delete task of the current template fails",
		faults: func(int) []pvesim.Fault {
			return []pvesim.Fault{{Method: "DELETE", Path: "/nodes/*/qemu/*", VMID: vmid, TaskExit: "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout"}}
		},
		output:     "VMID 9000 still holds",
		neverEmpty: true,
	}, {
		name: "500 once while placing (retried)",
		faults: func(stg int) []pvesim.Fault {
			return []pvesim.Fault{{Method: "POST", Path: "/nodes/*/qemu/*/clone", VMID: stg, Skip: 1, Count: 1, Status: 500, Message: "unable to create VM 9000: got timeout"}}
		},
		replaced: true,
	}, {
		name: "596 once while deleting the current template (retried)",
		faults: func(int) []pvesim.Fault {
			return []pvesim.Fault{{Method: "DELETE", Path: "/nodes/*/qemu/*", VMID: vmid, Count: 1, Status: 596, Message: "Connection timed out"}}
		},
		replaced: true,
	}, {
		name: "596 persists while placing",
		faults: func(stg int) []pvesim.Fault {
			return []pvesim.Fault{{Method: "POST", Path: "/nodes/*/qemu/*/clone", VMID: stg, Skip: 1, Status: 596, Message: "Connection timed out"}}
		},
		output: "the previous template was restored at VMID 9000",
	}}
	for _, c := range swaps {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, old := staleWorld(t, pvesim.Options{})
			stg := e.nextStaging()
			for _, f := range c.faults(stg) {
				e.fault(f)
			}
			r := e.start("apply", "--auto-approve").wait(t)
			want := 1
			if c.replaced {
				want = 0
			}
			if r.code != want || !strings.Contains(r.stdout, c.output) {
				t.Fatalf("exit %d, want %d, output with %q:\n%s", r.code, want, c.output, r)
			}
			e.settled(faultTemplate)
			if now := e.template(faultTemplate); c.replaced == (now.BuildID == old.BuildID) {
				t.Fatalf("9000 holds build %s (old %s), replaced=%v wanted", now.BuildID, old.BuildID, c.replaced)
			}
			if hits := e.faultHits(); hits == 0 {
				t.Fatal("the fault never fired")
			}
			if c.neverEmpty {
				e.neverEmptied(vmid)
			}
		})
	}

	t.Run("template task fails at the reserved VMID until the fault is lifted", func(t *testing.T) {
		t.Parallel()
		e, old := staleWorld(t, pvesim.Options{})
		id := e.fault(pvesim.Fault{Method: "POST", Path: "/nodes/*/qemu/*/template", VMID: vmid, TaskExit: "can't convert VM to template: disk busy"})
		r := e.start("apply", "--auto-approve").wait(t)
		if r.code != 1 || !strings.Contains(r.stdout, "kept for the next run") {
			t.Fatalf("apply with a persistent fault at 9000:\n%s", r)
		}
		// Neither the new build nor the kept copy could become a template at
		// 9000: the journal and the staged build stay for the next run.
		if op, ok := e.op(faultTemplate); !ok || op.Previous == 0 {
			t.Fatalf("the journal should keep the unfinished swap: %+v", op)
		}
		if len(e.inRange(e.desired().VMIDs.Staging)) != 1 {
			t.Fatal("the staged build should be kept")
		}
		e.ledgerVerifies()
		e.sim.Faults().Remove(id)
		e.rerunConverges()
		if prev := e.previousOf(faultTemplate); len(prev) != 1 || stampOf(prev[0]).BuildID != old.BuildID {
			t.Errorf("the old template should be the one previous version: %+v", prev)
		}
	})

	t.Run("Packer exits non-zero: base clone task fails", func(t *testing.T) {
		t.Parallel()
		e, old := staleWorld(t, pvesim.Options{})
		// tpl-ubuntu-22.04 clones the base VM templated made from its
		// cloud image at the first VMID of vmids.bases (9800).
		e.fault(pvesim.Fault{Method: "POST", Path: "/nodes/*/qemu/*/clone", VMID: 9800, TaskExit: "clone failed: storage 'local-lvm' is full"})
		r := e.apply(1)
		if !strings.Contains(r.stdout, "failed at building") || !strings.Contains(r.stdout, "storage 'local-lvm' is full") {
			t.Errorf("the failure and Packer's error should be shown:\n%s", r.stdout)
		}
		e.settled(faultTemplate)
		if s := e.template(faultTemplate); s.BuildID != old.BuildID {
			t.Fatalf("a failed build replaced the template")
		}
		e.neverEmptied(vmid)
		e.failureEvidence("storage 'local-lvm' is full")
	})

	t.Run("Packer hangs past build_timeout", func(t *testing.T) {
		t.Parallel()
		e, old := staleWorld(t, pvesim.Options{}, "build_timeout: 20s")
		// Packer waits for a start task that never ends. The staging VM is
		// not locked by it, so templated can remove it once Packer is gone.
		e.fault(pvesim.Fault{Method: "POST", Path: "/nodes/*/qemu/*/status/start", TaskHang: true})
		r := e.apply(1, "--packer-kill-grace", "5s")
		// SIGINT at the timeout (Packer says it cancels), SIGKILL after the
		// grace period, since its plugin waits on for the task.
		if !strings.Contains(r.stdout, "failed at building") || !strings.Contains(r.stdout, "timed out after 20s") ||
			!strings.Contains(r.stdout, "Cancelling build after receiving interrupt") || !strings.Contains(r.stdout, "killed after the grace period") {
			t.Errorf("Packer should have been interrupted, then killed, at the timeout:\n%s", r.stdout)
		}
		e.settled(faultTemplate)
		if s := e.template(faultTemplate); s.BuildID != old.BuildID {
			t.Fatalf("a timed-out build replaced the template")
		}
		e.neverEmptied(vmid)
		e.failureEvidence("")
	})

	t.Run("token revoked during the build", func(t *testing.T) {
		t.Parallel()
		e, old := staleWorld(t, pvesim.Options{})
		p := e.start("apply", "--auto-approve")
		// Once Packer has cloned the base VM, every request gets 401.
		deadline := time.Now().Add(2 * time.Minute)
		for !e.sawRequest("POST", "/nodes/pve1/qemu/9800/clone") { // the base VM made from the image
			if p.exited() || time.Now().After(deadline) {
				t.Fatalf("Packer never cloned the base VM:\n%s", p.wait(t))
			}
			time.Sleep(5 * time.Millisecond)
		}
		revoked := e.fault(pvesim.Fault{Status: 401, Message: "authentication failure", EmptyBody: true})
		r := p.wait(t)
		if r.code != 1 || !strings.Contains(r.stdout, "failed at building") {
			t.Fatalf("apply with a revoked token:\n%s", r)
		}
		if ledgerHas(e, "build.finished", "failure") == 0 {
			t.Error("the failed build is not in the ledger")
		}
		// Packer's staging VM could not be removed with the revoked token:
		// the journal keeps the clean-up for the next run.
		if op, ok := e.op(faultTemplate); !ok || op.Step != journal.StepCleanup {
			t.Fatalf("the journal should hold the unfinished clean-up: %+v", op)
		}
		// Nothing templated did touched 9000.
		if s := e.template(faultTemplate); s.BuildID != old.BuildID {
			t.Fatalf("9000 changed although the build failed")
		}
		e.neverEmptied(vmid)
		// A new token (the fault lifted): the next run removes what the
		// revoked one could not, then builds and converges.
		e.sim.Faults().Remove(revoked)
		r = e.rerunConverges()
		assertNoSecret(t, e.sim.TokenSecret(), r, e.evidenceDir(), e.stateDir())
	})
}

// rerunConverges reruns apply after an interrupted or failed one: it must
// recover the journal's operation, succeed, and leave nothing to do.
func (e *e2e) rerunConverges() result {
	e.t.Helper()
	r := e.apply(0)
	if !strings.Contains(r.stdout, "Recovering 1 interrupted operation") {
		e.t.Errorf("the rerun did not recover from the journal:\n%s", r.stdout)
	}
	if code := e.planExit(); code != 0 {
		e.t.Fatalf("plan after the rerun: exit %d", code)
	}
	e.settled(faultTemplate)
	return r
}

// neverEmptied asserts that the simulator never saw vmid without a guest.
func (e *e2e) neverEmptied(vmid int) {
	e.t.Helper()
	if v := e.sim.Cluster().Vacancies(vmid); len(v) > 0 {
		e.t.Errorf("VMID %d stood empty %d time(s), first for %s", vmid, len(v), v[0].Duration())
	}
}

// faultHits sums the hits of every fault.
func (e *e2e) faultHits() int {
	n := 0
	for _, f := range e.sim.Faults().List() {
		n += f.Hits
	}
	return n
}

// sawRequest reports whether the simulator saw method path.
func (e *e2e) sawRequest(method, path string) bool {
	for _, r := range e.sim.Requests() {
		if r.Method == method && r.Path == path {
			return true
		}
	}
	return false
}

// ledgerHas counts ledger show lines with all the given words.
func ledgerHas(e *e2e, words ...string) int {
	r := e.run("ledger", "show", "--dir", e.evidenceDir())
	n := 0
	for _, l := range strings.Split(r.stdout, "\n") {
		all := true
		for _, w := range words {
			all = all && strings.Contains(l, w)
		}
		if all {
			n++
		}
	}
	return n
}

// failureEvidence asserts that the failed build's evidence folder holds
// Packer's log and the error (containing msg, when set).
func (e *e2e) failureEvidence(msg string) {
	e.t.Helper()
	var log, build bool
	for _, f := range files(e.t, e.evidenceDir()) {
		if !strings.HasPrefix(f, faultTemplate+"/") {
			continue
		}
		log = log || strings.HasSuffix(f, "/packer.log")
		build = build || strings.HasSuffix(f, "/build.json")
	}
	if !log || !build {
		e.t.Errorf("the failed build's evidence lacks packer.log or build.json: %v", files(e.t, e.evidenceDir()))
	}
	if n := ledgerHas(e, "build.finished", "failure", msg); n != 1 {
		e.t.Errorf("%d failed build.finished entries with %q in the ledger, want 1", n, msg)
	}
}

// TestApplyKillE2E kills templated with SIGKILL at each step of the swap,
// then reruns apply, which must finish the interrupted swap from the
// journal. Tasks take 2s so that each step is long enough to hit.
func TestApplyKillE2E(t *testing.T) {
	t.Parallel()
	for _, step := range []journal.Step{journal.StepKeepPrevious, journal.StepDeleteCurrent, journal.StepPlaceNew, journal.StepCleanup} {
		t.Run(string(step), func(t *testing.T) {
			t.Parallel()
			e, old := staleWorld(t, pvesim.Options{TaskDuration: 2 * time.Second})
			p := e.start("apply", "--auto-approve")
			at := func(op journal.Op) bool {
				// At keep-previous, wait until the copy's VMID is chosen,
				// so that the kill lands in the middle of the copy.
				return op.Step == step && (step != journal.StepKeepPrevious || op.Previous != 0)
			}
			op := e.waitOp(p, faultTemplate, at)
			time.Sleep(200 * time.Millisecond) // into the step's task
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if !taskRunning(e.sim) {
				t.Errorf("no PVE task was running when templated was killed at %s", step)
			}
			r := p.wait(t)
			if r.code != -1 || strings.Contains(r.stdout, "Apply:") {
				t.Fatalf("templated was not killed mid-run:\n%s", r)
			}
			if j, ok := e.op(faultTemplate); !ok || j.Step != step {
				t.Fatalf("the journal does not show the interrupted step %s: %+v", step, j)
			}

			e.rerunConverges()
			// The staged build was intact, so the swap was finished.
			if s := e.template(faultTemplate); s.BuildID != op.BuildID {
				t.Errorf("9000 holds build %s, want the interrupted build %s (old %s)", s.BuildID, op.BuildID, old.BuildID)
			}
			if prev := e.previousOf(faultTemplate); len(prev) != 1 || stampOf(prev[0]).BuildID != old.BuildID {
				t.Errorf("the old template should be the one previous version: %+v", prev)
			}
			if ledgerHas(e, "recover", "success") == 0 {
				t.Error("the recovery is not in the ledger")
			}
		})
	}
}

// taskRunning reports whether a simulated PVE task is still running.
func taskRunning(srv *pvesim.Server) bool {
	for _, tk := range srv.Cluster().Tasks() {
		if tk.Status == "running" {
			return true
		}
	}
	return false
}
