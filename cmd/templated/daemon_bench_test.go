package main

// Figures of the real daemon binary against the simulator (issue 7):
//
//	go test -run '^$' -bench BenchmarkDaemon -benchtime 1x ./cmd/templated/
//
// BenchmarkDaemonIdle reports resident memory and CPU while the daemon
// waits (60 s, TEMPLATED_BENCH_IDLE overrides); BenchmarkDaemonChangeToDecision
// the time from a write of the desired file to the decision entry in the
// ledger, debounce (the production default) included.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"templated/internal/daemon"
	"templated/internal/ledger"
	"templated/internal/plan"
	"templated/internal/pvesim"
	"templated/internal/state"
	"templated/internal/workspace"
)

// benchDaemon starts a simulator and the daemon over a copy of desired/
// and packer/ whose templates are all built and up to date, and waits for
// its first run to end.
func benchDaemon(b *testing.B, args ...string) (*daemonProc, string, string) {
	b.Helper()
	repo, dir := b.TempDir(), b.TempDir()
	for _, d := range []string{"desired", "packer"} {
		if err := os.CopyFS(filepath.Join(repo, d), os.DirFS(filepath.Join(repoRoot(b), d))); err != nil {
			b.Fatal(err)
		}
	}
	srv, err := pvesim.Start(pvesim.Options{TaskDuration: 50 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	envFile := filepath.Join(dir, ".env")
	if err := os.WriteFile(envFile, []byte(srv.DotEnv()), 0o600); err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(toolsDir(b), "bin")
	if _, err := os.Stat(filepath.Join(bin, "packer")); err != nil {
		b.Skip("real Packer not built (make tools): the inputs hash asks it for its version on every run")
	}
	evidence := filepath.Join(dir, "evidence")
	env := []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "HOME=" + dir, "CHECKPOINT_DISABLE=1",
		"TEMPLATED_ENV_FILE=" + envFile, "TEMPLATED_STATE_DIR=" + filepath.Join(dir, "state"),
		"TEMPLATED_EVIDENCE_DIR=" + evidence, "TEMPLATED_LEDGER_KEY=" + filepath.Join(dir, "keys", "ledger.key"),
		"PACKER_PLUGIN_PATH=" + filepath.Join(toolsDir(b), "plugins")}
	init := newCmd(binary, "ledger", "init", "--dir", evidence, "--key", filepath.Join(dir, "keys", "ledger.key"))
	init.Env = env
	if out, err := init.CombinedOutput(); err != nil {
		b.Fatalf("ledger init: %v\n%s", err, out)
	}
	// Every template built a minute ago from the current inputs: idle
	// means nothing to do.
	seed := newCmd(binary, "plan", "--json")
	seed.Dir, seed.Env = repo, env
	if out, err := seed.Output(); err != nil {
		b.Fatalf("plan: %v\n%s", err, out)
	} else if err := seedFromPlan(srv, filepath.Join(repo, desiredRel), out); err != nil {
		b.Fatal(err)
	}
	p := startDaemonProc(b, repo, env, args...)
	p.waitFor(time.Minute, "the first run", func() bool { return p.idleAfter(time.Time{}) })
	return p, repo, evidence
}

// procTimes reads a process's VmRSS (bytes) and user+system CPU (clock
// ticks, 100 per second on Linux).
func procTimes(b *testing.B, pid int) (rss float64, ticks int64) {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, ln := range strings.Split(string(status), "\n") {
		if f := strings.Fields(ln); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			rss = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	f := strings.Fields(rest) // f[0] is field 3 (state); utime is field 14, stime 15
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return rss, ut + st
}

func BenchmarkDaemonIdle(b *testing.B) {
	window := 60 * time.Second
	if s := os.Getenv("TEMPLATED_BENCH_IDLE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		window = d
	}
	p, _, _ := benchDaemon(b, "--log-level", "info")
	pid := p.cmd.Process.Pid
	b.ResetTimer()
	for b.Loop() {
		_, t0 := procTimes(b, pid)
		var peak float64
		deadline := time.Now().Add(window)
		for time.Now().Before(deadline) {
			time.Sleep(time.Second)
			rss, _ := procTimes(b, pid)
			peak = max(peak, rss)
		}
		rss, t1 := procTimes(b, pid)
		b.ReportMetric(rss/(1<<20), "idle-RSS-MiB")
		b.ReportMetric(peak/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(t1-t0)*10/window.Seconds(), "idle-CPU-ms/s")
	}
}

func BenchmarkDaemonChangeToDecision(b *testing.B) {
	p, repo, evidence := benchDaemon(b, "--debounce", daemon.DefaultDebounce.String())
	path := filepath.Join(repo, desiredRel)
	orig, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	decisions := func() []ledger.Entry { return entriesOf(evidence, ledger.KindDecision) }
	var total, worst time.Duration
	n := 0
	for b.Loop() {
		before := len(decisions())
		wrote := time.Now()
		if err := os.WriteFile(path, fmt.Appendf(append([]byte(nil), orig...), "# change %d\n", n), 0o644); err != nil {
			b.Fatal(err)
		}
		var ds []ledger.Entry
		p.waitFor(time.Minute, "the decision", func() bool { ds = decisions(); return len(ds) > before })
		at, err := time.Parse(time.RFC3339Nano, ds[before].TS)
		if err != nil {
			b.Fatal(err)
		}
		lat := at.Sub(wrote)
		total += lat
		worst = max(worst, lat)
		n++
		// Let the run end before the next change.
		p.waitFor(time.Minute, "an idle daemon", func() bool { return p.status().State == "idle" })
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(n), "ms-to-decision")
	b.ReportMetric(float64(worst.Milliseconds()), "max-ms-to-decision")
	b.ReportMetric(float64(daemon.DefaultDebounce.Milliseconds()), "debounce-ms")
}

var newCmd = exec.Command

// entriesOf reads the ledger in evidence (without verifying it) and keeps
// the entries of kind.
func entriesOf(evidence string, kind ledger.Kind) []ledger.Entry {
	es, _ := ledger.ReadEntries(evidence)
	var out []ledger.Entry
	for _, e := range es {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// seedFromPlan puts every template of the desired file in the simulator,
// built a minute ago from the inputs its plan (plan --json output) wants.
func seedFromPlan(srv *pvesim.Server, desiredPath string, planJSON []byte) error {
	d, err := workspace.LoadDesired(desiredPath)
	if err != nil {
		return err
	}
	var p plan.Plan
	if err := json.Unmarshal(planJSON, &p); err != nil {
		return fmt.Errorf("plan --json: %w", err)
	}
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	for _, a := range p.Actions {
		t, _ := d.Template(a.Template)
		s := state.Stamp{Template: t.Name, Release: t.Release.String(), InputsHash: strings.TrimPrefix(a.InputsHash, "sha256:"),
			BuiltAt: at, BuildID: "seed", Role: state.RoleTemplate}
		err := srv.Cluster().AddGuest(pvesim.GuestSpec{VMID: t.VMID, Node: t.Node, Name: t.Name, Template: true,
			Tags: strings.Join(s.Tags(), ";"), Description: s.Description(),
			Config: map[string]string{"cores": strconv.Itoa(t.Cores), "sockets": "1", "memory": strconv.Itoa(t.MemoryMiB),
				"scsi0": fmt.Sprintf("%s:base-%d-disk-0,size=%dG", t.Storage, t.VMID, t.DiskGB), "agent": "1",
				"ide2": fmt.Sprintf("%s:vm-%d-cloudinit,media=cdrom", t.Storage, t.VMID), "ostype": "l26"}})
		if err != nil {
			return err
		}
	}
	return nil
}
