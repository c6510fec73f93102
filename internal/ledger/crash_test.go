package ledger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// The crash tests re-execute the test binary as a writer child that is
// killed with SIGKILL at one step of the write protocol: either it kills
// itself there ("self") or it stops there and the parent kills it ("parent").

const (
	envCrashDir   = "LEDGER_CRASH_DIR"
	envCrashKey   = "LEDGER_CRASH_KEY"
	envCrashPoint = "LEDGER_CRASH_POINT"
	envCrashMode  = "LEDGER_CRASH_MODE"
	envCrashOp    = "LEDGER_CRASH_OP"
)

func TestMain(m *testing.M) {
	if os.Getenv(envCrashDir) != "" {
		os.Exit(crashChild())
	}
	os.Exit(m.Run())
}

// crashChild runs one write operation and dies at LEDGER_CRASH_POINT. It
// exits 3 if the point was never reached.
func crashChild() int {
	point, mode := os.Getenv(envCrashPoint), os.Getenv(envCrashMode)
	crashHook = func(p string) {
		if p != point {
			return
		}
		if mode == "self" {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		fmt.Printf("AT %s\n", p)
		select {} // wait for the parent's kill -9
	}
	ctx := context.Background()
	l, err := Open(ctx, Options{Dir: os.Getenv(envCrashDir), KeyFile: os.Getenv(envCrashKey)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 4
	}
	switch os.Getenv(envCrashOp) {
	case "append":
		_, err = l.Append(ctx, Entry{Kind: KindStep, Template: "tpl-win2022", Step: "verify", Result: "success"})
	case "build":
		err = childBuild(ctx, l)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 5
	}
	return 3
}

func childBuild(ctx context.Context, l *Ledger) error {
	b, err := l.NewBuild("tpl-win2022", "b9")
	if err != nil {
		return err
	}
	if err := os.WriteFile(b.LogPath, []byte("==> build log\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(b.ManifestPath, []byte(`{"builds":[]}`), 0o644); err != nil {
		return err
	}
	e, err := b.Finish(ctx, BuildInfo{Result: "success"})
	if err != nil {
		return err
	}
	_, err = l.Append(ctx, e)
	return err
}

var appendPoints = []string{
	"append:begin", "append:written", "append:synced",
	"checkpoint:archive:tmp", "checkpoint:archive:renamed", "checkpoint:archive:dirsynced",
	"checkpoint:current:tmp", "checkpoint:current:renamed", "checkpoint:current:dirsynced",
	"append:done",
}

var buildPoints = []string{
	"evidence:build.json:tmp", "evidence:build.json:renamed", "evidence:build.json:dirsynced",
	"evidence:provenance.intoto.json:tmp", "evidence:provenance.intoto.json:renamed",
	"evidence:SHA256SUMS:tmp", "evidence:SHA256SUMS:renamed", "evidence:SHA256SUMS:dirsynced",
}

// runChild runs the child and returns once it died of SIGKILL.
func runChild(t *testing.T, f *fixture, op, point, mode string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashDir+"="+f.dir, envCrashKey+"="+f.keyFile,
		envCrashPoint+"="+point, envCrashMode+"="+mode, envCrashOp+"="+op)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if mode == "parent" {
		line, _ := bufio.NewReader(out).ReadString('\n')
		if line == "AT "+point+"\n" {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil { // kill -9
				t.Fatal(err)
			}
		}
	}
	_ = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child at %s (%s) was not killed by SIGKILL: %v; stderr: %s", point, mode, cmd.ProcessState, stderr.String())
	}
}

// maxArchived is the largest checkpoint size archived: every entry below it
// was sealed at some point and must survive.
func (f *fixture) maxArchived(t testing.TB) int64 {
	des, err := os.ReadDir(f.path("ledger", notesDirName))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, de := range des {
		if noteRE.MatchString(de.Name()) {
			var v int64
			fmt.Sscanf(de.Name(), "%d", &v)
			n = max(n, v)
		}
	}
	return n
}

type crashCounts struct{ injected, recovered, repairs, lost int }

// checkRecovery verifies, repairs, verifies again and checks that no entry a
// checkpoint covered at crash time was lost.
func checkRecovery(t *testing.T, f *fixture, what string, c *crashCounts) {
	t.Helper()
	c.injected++
	sealed := f.maxArchived(t)
	before := f.lines(t)
	r := f.verify(t)
	if st := r.Status(); st == StatusTampered {
		t.Fatalf("%s: crash looks like tampering: %v", what, r.Findings)
	}
	rep, err := Repair(context.Background(), Options{Dir: f.dir, KeyFile: f.keyFile})
	if err != nil {
		t.Fatalf("%s: repair: %v", what, err)
	}
	if rep != nil {
		c.repairs++
	}
	if r := f.verify(t); r.Status() != StatusIntact {
		t.Fatalf("%s: after repair: %v", what, r.Findings)
	}
	after := f.lines(t)
	if int64(len(after)) < sealed {
		t.Fatalf("%s: %d entries after repair, but %d were checkpointed", what, len(after), sealed)
	}
	for i := int64(0); i < sealed; i++ {
		if !bytes.Equal(before[i], after[i]) {
			c.lost++
			t.Fatalf("%s: checkpointed entry %d changed", what, i)
		}
	}
	c.recovered++
}

func TestCrashKill9AtEveryStep(t *testing.T) {
	var c crashCounts
	type run struct{ op, point string }
	var runs []run
	for _, p := range appendPoints {
		runs = append(runs, run{"append", p})
	}
	for _, p := range buildPoints {
		runs = append(runs, run{"build", p})
	}
	for _, rn := range runs {
		for _, mode := range []string{"self", "parent"} {
			t.Run(rn.op+"/"+rn.point+"/"+mode, func(t *testing.T) {
				f := newFixture(t)
				populate(t, f)
				runChild(t, f, rn.op, rn.point, mode)
				checkRecovery(t, f, rn.point, &c)
				// The crashed append, if it reached the file, is kept.
				if rn.op == "append" && rn.point != "append:begin" {
					es := f.entries(t)
					if es[8].Kind != KindStep || es[8].Template != "tpl-win2022" {
						t.Fatalf("the crashed entry was lost: %+v", es[8])
					}
				}
			})
		}
	}
	t.Logf("kill -9 crash points: injected %d, recovered %d, repairs recorded %d, checkpointed entries lost %d",
		c.injected, c.recovered, c.repairs, c.lost)
}

// TestCrashDuringRepair kills the repair itself at each of its steps, then
// repairs again.
func TestCrashDuringRepair(t *testing.T) {
	var c crashCounts
	points := append([]string{"repair:quarantine:tmp", "repair:quarantine:renamed", "repair:quarantine:dirsynced", "repair:truncated"}, appendPoints...)
	for _, p := range points {
		t.Run(p, func(t *testing.T) {
			f := newFixture(t)
			populate(t, f)
			// A torn tail: half of a line.
			ls := f.lines(t)
			f.writeLines(t, append(ls, ls[3][:len(ls[3])/2]))
			runChild(t, f, "open", p, "self")
			checkRecovery(t, f, p, &c)
			// 8 + ledger.repair, or + a second ledger.repair sealing the first
			// when the crash hit after it was written.
			es := f.entries(t)
			if n := len(es); n != 9 && !(n == 10 && repairSeals(es[9], 8)) && !(n == 10 && es[9].Repair.Checkpoint != "") {
				t.Fatalf("%d entries after repair: %+v", n, es[8:])
			}
		})
	}
	t.Logf("kill -9 during repair: injected %d, recovered %d, repairs recorded %d, checkpointed entries lost %d",
		c.injected, c.recovered, c.repairs, c.lost)
}

// TestRepeatedFailedRepairs: a repair is written but killed before its
// checkpoint, then the next repair is killed too. However often that
// happens, the ledger stays repairable (never "tampered"), and the one
// repair entry that seals the crashed one stays the only one that seals.
func TestRepeatedFailedRepairs(t *testing.T) {
	f := newFixture(t)
	populate(t, f)
	f.write(t, append(f.read(t, "ledger", entriesName), unsealedLine(t, f)...), "ledger", entriesName)
	runChild(t, f, "open", "append:synced", "self") // the repair entry, unsealed
	for i := range 3 {
		runChild(t, f, "open", "checkpoint:archive:tmp", "self")
		if r := f.verify(t); r.Status() == StatusTampered {
			t.Fatalf("after %d failed repairs the ledger looks tampered: %v", i+2, r.Findings)
		}
	}
	var c crashCounts
	checkRecovery(t, f, "repeated failed repairs", &c)
	es := f.entries(t)
	if len(es) < 10 || es[8].Step != "swap" || !repairSeals(es[9], 8) {
		t.Fatalf("entries after the repairs: %+v", es[8:])
	}
	// Later repairs only record clean-up (the killed checkpoints' temporary
	// files); none seals anything.
	for _, e := range es[10:] {
		if e.Kind != KindLedgerRepair || len(e.Repair.Sealed) != 0 {
			t.Fatalf("unexpected entry after the repairs: %+v", e)
		}
	}
}

// unsealedLine is the signed line that would follow the fixture's ledger.
func unsealedLine(t *testing.T, f *fixture) []byte {
	t.Helper()
	ls := f.lines(t)
	last := tlog.RecordHash(bytes.TrimSuffix(ls[len(ls)-1], []byte("\n")))
	line, err := encodeLine(Entry{V: 1, Seq: uint64(len(ls)), TS: "2025-05-02T00:00:00Z", Kind: KindStep,
		Prev: hex.EncodeToString(last[:]), Template: "tpl-win2022", Step: "swap", Result: "success"}, f.key(t).priv)
	if err != nil {
		t.Fatal(err)
	}
	return append(line, '\n')
}

// TestTornLastLineAtEveryOffset writes the unsealed last line cut at every
// byte offset (what a crash during its write can leave), then verifies and
// repairs: the torn part goes to quarantine, sealed entries are untouched.
func TestTornLastLineAtEveryOffset(t *testing.T) {
	f := newFixture(t)
	populate(t, f)
	base := f.read(t, "ledger", entriesName)
	line := unsealedLine(t, f)
	snapshot := snapshotDir(t, f.dir)
	var c crashCounts
	for k := 0; k <= len(line); k++ {
		restoreDir(t, f.dir, snapshot)
		f.write(t, append(bytes.Clone(base), line[:k]...), "ledger", entriesName)
		checkRecovery(t, f, fmt.Sprintf("offset %d", k), &c)
		es := f.entries(t)
		switch {
		case k == 0:
			if len(es) != 8 {
				t.Fatalf("offset 0: %d entries", len(es))
			}
		case k == len(line): // complete line: sealed, not lost
			if len(es) != 10 || es[8].Step != "swap" || es[9].Kind != KindLedgerRepair || es[9].Repair.Sealed[0] != 8 {
				t.Fatalf("complete unsealed line: %+v", es[8:])
			}
		default: // torn: quarantined byte for byte
			q := es[8].Repair.Quarantined
			if len(es) != 9 || len(q) != 1 || q[0].Offset != int64(len(base)) || q[0].Length != int64(k) {
				t.Fatalf("offset %d: %+v", k, es[8:])
			}
			if got := f.read(t, "ledger", q[0].File); !bytes.Equal(got, line[:k]) {
				t.Fatalf("offset %d: quarantine holds %q", k, got)
			}
		}
	}
	t.Logf("torn last line: %d offsets injected, %d recovered, %d repairs recorded, %d checkpointed entries lost",
		c.injected, c.recovered, c.repairs, c.lost)
}

// TestSealedLineTruncatedIsTamper cuts the last *sealed* line at every
// offset: no crash can do that, so verify must call it tampering.
func TestSealedLineTruncatedIsTamper(t *testing.T) {
	f := newFixture(t)
	populate(t, f)
	raw := f.read(t, "ledger", entriesName)
	ls := f.lines(t)
	start := len(raw) - len(ls[len(ls)-1])
	for k := start; k < len(raw); k++ {
		f.write(t, raw[:k], "ledger", entriesName)
		if r := f.verify(t); r.Status() != StatusTampered {
			t.Fatalf("sealed line cut at %d: %s %v", k, r.Status(), r.Findings)
		}
	}
}

func TestGarbageTailQuarantined(t *testing.T) {
	for name, junk := range map[string][]byte{
		"zero block":    make([]byte, 4096),
		"garbage line":  []byte("\x00\x01garbage\n"),
		"partial+zeros": append([]byte(`{"v":1,"seq":8,`), make([]byte, 100)...),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			populate(t, f)
			raw := f.read(t, "ledger", entriesName)
			f.write(t, append(raw, junk...), "ledger", entriesName)
			var c crashCounts
			checkRecovery(t, f, name, &c)
			es := f.entries(t)
			if len(es) != 9 || es[8].Repair == nil || es[8].Repair.Quarantined[0].Length != int64(len(junk)) {
				t.Fatalf("%+v", es[8:])
			}
		})
	}
}

// snapshotDir and restoreDir let one fixture serve many cases quickly.
func snapshotDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	snap := map[string][]byte{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		snap[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func restoreDir(t *testing.T, dir string, snap map[string][]byte) {
	t.Helper()
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		if _, ok := snap[p]; !ok && !strings.HasSuffix(p, lockName) {
			return os.Remove(p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range snap {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
