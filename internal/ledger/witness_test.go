package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/torchwood"
)

func (f *fixture) openWitnessed(t testing.TB) *Ledger {
	t.Helper()
	l, err := Open(context.Background(), Options{Dir: f.dir, KeyFile: f.keyFile, Clock: f.clock,
		Witnesses: WitnessOptions{Timeout: 2 * time.Second, CloseWait: 3 * time.Second, Retry: 50 * time.Millisecond}})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

func (f *fixture) appendSteps(t testing.TB, l *Ledger, n int) {
	t.Helper()
	for range n {
		mustAppend(t, l, Entry{Kind: KindStep, Template: "tpl-rocky-9", Step: "verify", Result: "success"})
	}
}

func (f *fixture) verifyWitnessed(t testing.TB, required int) *Report {
	t.Helper()
	r, err := Verify(t.Context(), VerifyOptions{Dir: f.dir, VerifierKeys: []string{f.vkey}, SkipEvidence: true,
		Witnesses: &WitnessCheck{Required: required, Timeout: 2 * time.Second}})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return r
}

func wantFinding(t testing.TB, r *Report, st Status, sev Severity, substr string) {
	t.Helper()
	var got []string
	found := false
	for _, fd := range r.Findings {
		got = append(got, fd.String())
		found = found || (fd.Severity == sev && strings.Contains(fd.Where+": "+fd.Message, substr))
	}
	if r.Status() != st || !found {
		t.Fatalf("status %s, want %s with a %s finding containing %q; got:\n%s", r.Status(), st, sev, substr, strings.Join(got, "\n"))
	}
}

// witnessedLedger is a ledger of 5 entries whose checkpoint a litewitness
// on loopback has cosigned.
func witnessedLedger(t *testing.T) (*fixture, *litewitness) {
	t.Helper()
	f := newFixture(t)
	w := startLitewitness(t, "templated.test/ledger", f.vkey)
	if err := AddWitness(f.dir, w.cfg); err != nil {
		t.Fatal(err)
	}
	l := f.openWitnessed(t)
	f.appendSteps(t, l, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st := l.WitnessStatus(); len(st) != 1 || st[0].Cosigned != 5 {
		t.Fatalf("witness status after Close: %+v", st)
	}
	if _, err := os.Stat(f.path("ledger", cosigDirName, noteName(5))); err != nil {
		t.Fatalf("no stored cosignature: %v", err)
	}
	if r := f.verifyWitnessed(t, 1); r.Status() != StatusIntact || r.Cosignatures != 1 {
		t.Fatalf("witnessed ledger: %s %v", r.Status(), r.Findings)
	}
	return f, w
}

// TestWitnessDetectsCutAndRewrite: what local verification cannot see, one
// litewitness on loopback reports through verify --witnesses 1.
func TestWitnessDetectsCutAndRewrite(t *testing.T) {
	t.Run("tail cut with its checkpoints and cosignatures", func(t *testing.T) {
		f, _ := witnessedLedger(t)
		f.writeLines(t, f.lines(t)[:3])
		for n := int64(4); n <= 5; n++ {
			f.remove(t, "ledger", notesDirName, noteName(n))
		}
		f.write(t, f.read(t, "ledger", notesDirName, noteName(3)), "ledger", checkpointName)
		wantLocalMiss(t, f)
		wantFinding(t, f.verifyWitnessed(t, 1), StatusTampered, SeverityTamper, "witness w1: has cosigned a tree of 5 entries but the ledger's newest checkpoint has 3")
	})
	t.Run("wiped, then written again", func(t *testing.T) {
		f, _ := witnessedLedger(t)
		for _, p := range []string{entriesName, checkpointName, notesDirName, cosigDirName, treeName, VerifiedFileName} {
			os.RemoveAll(f.path("ledger", p))
		}
		wantFinding(t, f.verifyWitnessed(t, 1), StatusUnwitnessed, SeverityUnwitnessed, "no checkpoint to be cosigned")
		l := f.openWitnessed(t)
		f.appendSteps(t, l, 1)
		l.Close()
		if st := l.WitnessStatus(); st[0].Larger != 5 {
			t.Fatalf("the writer did not notice the witness's larger tree: %+v", st)
		}
		wantFinding(t, f.verifyWitnessed(t, 1), StatusTampered, SeverityTamper, "has cosigned a tree of 5 entries but the ledger's newest checkpoint has 1")
	})
	t.Run("rewritten with the signing key", func(t *testing.T) {
		f, _ := witnessedLedger(t)
		f.rewriteStep(t)
		wantLocalMiss(t, f)
		wantFinding(t, f.verifyWitnessed(t, 1), StatusTampered, SeverityTamper, "witness w1: rejected the consistency proof")
	})
	t.Run("rewritten with the signing key, stored cosignature kept", func(t *testing.T) {
		f, _ := witnessedLedger(t)
		f.rewriteStep(t)
		r, err := Verify(t.Context(), VerifyOptions{Dir: f.dir, VerifierKeys: []string{f.vkey}, SkipEvidence: true,
			Witnesses: &WitnessCheck{Required: 1, Offline: true}})
		if err != nil {
			t.Fatal(err)
		}
		wantFinding(t, r, StatusTampered, SeverityTamper, "witness cosigned a different tree of 5 entries")
	})
}

// wantLocalMiss removes the stored cosignatures too (a thorough attacker)
// and checks that local verification alone sees nothing.
func wantLocalMiss(t *testing.T, f *fixture) {
	t.Helper()
	os.RemoveAll(f.path("ledger", cosigDirName))
	if r := f.verify(t); r.Status() != StatusIntact {
		t.Fatalf("local verification was expected to miss this: %v", r.Findings)
	}
}

// rewriteStep re-signs the whole history with the real key after changing
// entry 1's result.
func (f *fixture) rewriteStep(t *testing.T) {
	t.Helper()
	es := f.entries(t)
	es[1].Result = "failure"
	f.rewrite(t, f.key(t), es)
}

// TestWitnessDown: appends finish while the witness is down, verify reports
// the missing cosignature, and the next append after it is back catches up.
func TestWitnessDown(t *testing.T) {
	f, w := witnessedLedger(t)
	w.stop()
	l := f.openWitnessed(t)
	f.appendSteps(t, l, 2)
	l.Close()
	if st := l.WitnessStatus(); st[0].Cosigned == 7 || st[0].LastError == "" {
		t.Fatalf("witness status with the witness down: %+v", st)
	}
	r := f.verifyWitnessed(t, 1)
	wantFinding(t, r, StatusUnwitnessed, SeverityUnwitnessed, "checkpoint 7 has 0 valid witness cosignatures, 1 required")
	if r.ExitCode() != 4 {
		t.Fatalf("exit code %d, want 4", r.ExitCode())
	}
	w.start()
	l = f.openWitnessed(t)
	l.Close() // Close sends the newest checkpoint
	if r := f.verifyWitnessed(t, 1); r.Status() != StatusIntact || r.Cosignatures != 1 {
		t.Fatalf("after the witness came back: %s %v", r.Status(), r.Findings)
	}
}

// TestWitnessRequestCarriesOnlyCheckpoint: what a witness receives is the
// protocol's request and the signed tree head, never an entry or a secret.
func TestWitnessRequestCarriesOnlyCheckpoint(t *testing.T) {
	const secret = "0b7c9c9e-1111-2222-3333-444455556666"
	var mu sync.Mutex
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		http.Error(rw, "unavailable", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	f := newFixture(t)
	_, wvkey := otherWitnessKey(t)
	if err := AddWitness(f.dir, WitnessConfig{Name: "w1", VerifierKey: wvkey, URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	l, err := Open(t.Context(), Options{Dir: f.dir, KeyFile: f.keyFile, Secrets: []string{secret},
		Witnesses: WitnessOptions{Timeout: time.Second, CloseWait: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	f.appendSteps(t, l, 3)
	l.Close()
	checkpoint := f.read(t, "ledger", checkpointName)
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) == 0 {
		t.Fatal("no request reached the witness")
	}
	for _, b := range bodies {
		head, note, ok := bytes.Cut(b, []byte("\n\n"))
		if !ok || !bytes.HasPrefix(head, []byte("old ")) || bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte("tpl-rocky-9")) {
			t.Fatalf("request body:\n%s", b)
		}
		if _, err := OpenCheckpoint(note, f.vkey); err != nil {
			t.Fatalf("request does not end with a checkpoint: %v\n%s", err, b)
		}
	}
	if last := bodies[len(bodies)-1]; !bytes.HasSuffix(last, checkpoint) {
		t.Fatalf("Close did not send the newest checkpoint:\n%s", last)
	}
}

func TestWitnessConfig(t *testing.T) {
	f := newFixture(t)
	_, vkey := otherWitnessKey(t)
	for _, bad := range []WitnessConfig{
		{Name: "w1", VerifierKey: f.vkey, URL: "http://127.0.0.1:1"}, // an Ed25519 note key, not a cosignature key
		{Name: "w1", VerifierKey: vkey, URL: "http://user:" + "pw@127.0.0.1:1"},
		{Name: "w 1", VerifierKey: vkey, URL: "http://127.0.0.1:1"},
		{Name: "w1", VerifierKey: vkey, URL: "ftp://127.0.0.1"},
	} {
		if err := AddWitness(f.dir, bad); err == nil {
			t.Errorf("AddWitness accepted %+v", bad)
		}
	}
	if err := AddWitness(f.dir, WitnessConfig{Name: "w1", VerifierKey: vkey, URL: "http://127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if err := RemoveWitness(f.dir, "w2"); err == nil {
		t.Fatal("removed a witness that does not exist")
	}
	if err := RemoveWitness(f.dir, "w1"); err != nil {
		t.Fatal(err)
	}
	if ws, err := ReadWitnesses(f.dir); err != nil || len(ws) != 0 {
		t.Fatalf("after remove: %v %v", ws, err)
	}
}

// otherWitnessKey returns a cosignature signer and its verifier key.
func otherWitnessKey(t testing.TB) (*torchwood.CosignatureSigner, string) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := torchwood.NewCosignatureSigner("witness.test/other", priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, s.Verifier().String()
}

// BenchmarkAppendWitnessed measures Append with one litewitness on
// loopback (Append does not wait for it) and the time until the witness's
// cosignature on that entry's checkpoint is stored.
func BenchmarkAppendWitnessed(b *testing.B) {
	f := newFixture(b)
	w := startLitewitness(b, "templated.test/ledger", f.vkey)
	if err := AddWitness(f.dir, w.cfg); err != nil {
		b.Fatal(err)
	}
	l := f.openWitnessed(b)
	defer l.Close()
	ctx := context.Background()
	appendLat := make([]time.Duration, 0, b.N)
	cosignLat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		seq, err := l.Append(ctx, Entry{Kind: KindStep, Template: "tpl-ubuntu-22.04", BuildID: "b1", Step: "verify", Result: "success"})
		if err != nil {
			b.Fatal(err)
		}
		appendLat = append(appendLat, time.Since(start))
		for l.WitnessStatus()[0].Cosigned < int64(seq)+1 {
			time.Sleep(50 * time.Microsecond)
		}
		cosignLat = append(cosignLat, time.Since(start))
	}
	b.StopTimer()
	for name, lat := range map[string][]time.Duration{"append": appendLat, "cosigned": cosignLat} {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), name+"-p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), name+"-p99-µs")
	}
}
