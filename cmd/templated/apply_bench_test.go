package main

// Benchmarks of apply with the built binary, the real Packer and a
// simulator whose tasks end right after their first poll, so that what is
// measured is templated and Packer, not simulated task time:
//
//	go test -run '^$' -bench Apply -benchtime 1x ./cmd/templated/
//
// BenchmarkApplyOverhead: templated's own time per build (apply's wall time
// minus Packer's, from the "packer build finished" log line) and the swap
// window. BenchmarkApplyParallel: 8 templates built at once against one at
// a time.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"templated/internal/pvesim"
)

// benchWorld is an e2e world whose simulator ends tasks at their first
// poll, with its ledger initialised and its own desired file.
type benchWorld struct {
	*e2e
	b *testing.B
}

func newBenchWorld(b *testing.B, desired string) *benchWorld {
	b.Helper()
	e := newE2E(b, true, pvesim.Options{TaskDuration: -1}) // tasks end at the first poll
	if err := os.WriteFile(filepath.Join(e.repo, "desired", "templates.yaml"), []byte(desired), 0o644); err != nil {
		b.Fatal(err)
	}
	w := &benchWorld{e2e: e, b: b}
	w.run(0, "ledger", "init", "--dir", filepath.Join(e.dir, "evidence"), "--key", filepath.Join(e.dir, "keys", "ledger.key"))
	return w
}

// run runs templated, wants exit code want, and returns the run and its
// wall time.
func (w *benchWorld) run(want int, args ...string) (result, time.Duration) {
	w.b.Helper()
	start := time.Now()
	r := w.e2e.run(args...)
	wall := time.Since(start)
	if r.code != want {
		w.b.Fatalf("templated %v: exit %d, want %d:\n%s", args, r.code, want, r)
	}
	return r, wall
}

// bump sets every template's release to rel, so that apply rebuilds them.
func (w *benchWorld) bump(rel string) {
	p := filepath.Join(w.repo, "desired", "templates.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		w.b.Fatal(err)
	}
	s := regexp.MustCompile(`(?m)^(\s+release: )\S+`).ReplaceAllString(string(b), "${1}"+rel)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		w.b.Fatal(err)
	}
}

var (
	packerFinished = regexp.MustCompile(`msg="packer build finished".*? duration=([0-9.]+[a-zµ]+)`)
	swapEmpty      = regexp.MustCompile(`reserved VMID empty for ([0-9.]+[a-zµ]+)\)`)
)

// durations parses every match of re's first group in s.
func durations(b *testing.B, re *regexp.Regexp, s string) []time.Duration {
	var out []time.Duration
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		d, err := time.ParseDuration(m[1])
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func sum(ds []time.Duration) (t time.Duration) {
	for _, d := range ds {
		t += d
	}
	return t
}

// benchDesired is the repository's desired file with only the named
// templates.
func benchDesired(b *testing.B, names ...string) string {
	raw, err := os.ReadFile(filepath.Join(repoRoot(b), "desired", "templates.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	head, _, blocks := templateBlocks(string(raw))
	for _, n := range names {
		head += blocks[n] + "\n"
	}
	return head
}

// BenchmarkApplyOverhead rebuilds one template per iteration and reports
// templated's own time (wall time of the whole apply command minus
// Packer's build time), Packer's time, the swap window templated reports
// and the time the simulator saw no guest at the reserved VMID.
func BenchmarkApplyOverhead(b *testing.B) {
	w := newBenchWorld(b, benchDesired(b, "tpl-ubuntu-22.04"))
	w.run(0, "apply", "--auto-approve") // the first build; iterations rebuild
	var wall, pk, window, vacant time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.bump(fmt.Sprintf("2.0.%d", i))
		r, d := w.run(0, "apply", "--auto-approve")
		p := durations(b, packerFinished, r.stderr)
		s := durations(b, swapEmpty, r.stdout)
		if len(p) != 1 || len(s) != 1 {
			b.Fatalf("want one packer duration and one swap window:\n%s", r)
		}
		wall, pk, window = wall+d, pk+p[0], window+s[0]
		// The simulator's own record: how long no config existed at 9000.
		v := w.sim.Cluster().Vacancies(9000)
		if len(v) != i+1 {
			b.Fatalf("%d vacancies of 9000 after %d rebuilds", len(v), i+1)
		}
		vacant += v[i].Duration()
	}
	n := float64(b.N)
	b.ReportMetric((wall-pk).Seconds()/n, "overhead-s/build")
	b.ReportMetric(pk.Seconds()/n, "packer-s/build")
	b.ReportMetric(wall.Seconds()/n, "apply-s/build")
	b.ReportMetric(float64(window.Microseconds())/1000/n, "swap-window-ms")
	b.ReportMetric(float64(vacant.Microseconds())/1000/n, "vacant-ms")
}

// BenchmarkApplyParallel builds 8 Linux templates (9000-9007, clone
// builds from the Ubuntu 22.04 base) with --parallel 8 and with
// --parallel 1, and reports both wall times and the speed-up.
func BenchmarkApplyParallel(b *testing.B) {
	raw := benchDesired(b)
	var tpl strings.Builder
	for i := 0; i < 8; i++ {
		// Names must follow os and os_version: tpl-ubuntu-22.04.0 and on.
		fmt.Fprintf(&tpl, "  - name: tpl-ubuntu-22.04.%d\n    vmid: %d\n    os: ubuntu\n    os_version: \"22.04.%d\"\n    release: 1.0.0\n"+
			"    packer: linux/ubuntu\n    var_file: linux/ubuntu/ubuntu-22.04.pkrvars.hcl\n\n", i, 9000+i, i)
	}
	desired := raw + tpl.String()
	var serial, parallel, pkSum, overhead, window time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ws, wp := newBenchWorld(b, desired), newBenchWorld(b, desired)
		b.StartTimer()
		rs, ds := ws.run(0, "apply", "--auto-approve", "--parallel", "1")
		rp, dp := wp.run(0, "apply", "--auto-approve", "--parallel", "8")
		for _, r := range []result{rs, rp} {
			if n := strings.Count(r.stdout, ": create in "); n != 8 {
				b.Fatalf("%d templates created, want 8:\n%s", n, r)
			}
		}
		ps := durations(b, packerFinished, rs.stderr)
		serial, parallel, pkSum = serial+ds, parallel+dp, pkSum+sum(ps)
		overhead += ds - sum(ps) // one at a time, templated's time is what Packer's does not cover
		window += sum(durations(b, swapEmpty, rp.stdout)) / 8
	}
	n := float64(b.N)
	b.ReportMetric(serial.Seconds()/n, "serial-s")
	b.ReportMetric(parallel.Seconds()/n, "parallel8-s")
	b.ReportMetric(serial.Seconds()/parallel.Seconds(), "speedup")
	b.ReportMetric(overhead.Seconds()/n/8, "serial-overhead-s/build")
	b.ReportMetric(float64(window.Microseconds())/1000/n, "parallel-swap-window-ms")
}
