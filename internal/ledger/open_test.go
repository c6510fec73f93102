package ledger

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

func TestTreeFileRecords(t *testing.T) {
	p := filepath.Join(t.TempDir(), treeName)
	tf, err := openTreeFile(p)
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	var mem hashStore
	for n := int64(0); n < 300; n++ {
		if got := tf.records(); got != n {
			t.Fatalf("records() = %d with %d hashes, want %d", got, tf.count, n)
		}
		leaf := tlog.RecordHash([]byte{byte(n)})
		if err := tf.add(n, leaf); err != nil {
			t.Fatal(err)
		}
		if err := mem.add(n, leaf); err != nil {
			t.Fatal(err)
		}
		a, _ := tf.root(n + 1)
		b, _ := mem.root(n + 1)
		if a != b {
			t.Fatalf("root(%d) differs from the in-memory tree", n+1)
		}
	}
	tf.count-- // a torn last hash
	if got := tf.records(); got != -1 {
		t.Fatalf("records() = %d for a count between records", got)
	}
}

// stateFixture opens the ledger with a host state directory outside the
// evidence tree, as the daemon does.
func (f *fixture) openState(t testing.TB, state string) (*Ledger, error) {
	t.Helper()
	return Open(context.Background(), Options{Dir: f.dir, KeyFile: f.keyFile, Clock: f.clock, StateDir: state})
}

func populateState(t *testing.T, f *fixture, state string) {
	t.Helper()
	l, err := f.openState(t, state)
	if err != nil {
		t.Fatal(err)
	}
	for range 8 {
		mustAppend(t, l, Entry{Kind: KindStep, Template: "tpl-rocky-9", Step: "verify", Result: "success"})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(state, VerifiedFileName))
	if err != nil || !bytes.Equal(got, f.read(t, "ledger", checkpointName)) {
		t.Fatalf("Close did not record the newest checkpoint as verified: %v", err)
	}
}

// TestOpenRefusesCutHistory: cutting the tail together with its checkpoints,
// or wiping the ledger, leaves files that verify locally, but Open refuses
// them because this host verified a larger tree.
func TestOpenRefusesCutHistory(t *testing.T) {
	cases := map[string]func(t *testing.T, f *fixture){
		"tail cut with its checkpoints": func(t *testing.T, f *fixture) {
			f.writeLines(t, f.lines(t)[:5])
			for n := int64(6); n <= 8; n++ {
				f.remove(t, "ledger", notesDirName, noteName(n))
			}
			f.write(t, f.read(t, "ledger", notesDirName, noteName(5)), "ledger", checkpointName)
		},
		"wiped": func(t *testing.T, f *fixture) {
			for _, p := range []string{entriesName, checkpointName, notesDirName, treeName} {
				if err := os.RemoveAll(f.path("ledger", p)); err != nil {
					t.Fatal(err)
				}
			}
		},
	}
	for name, cut := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			state := t.TempDir()
			populateState(t, f, state)
			cut(t, f)
			if r := f.verify(t); r.Status() != StatusIntact {
				t.Fatalf("local verification was expected to miss this: %v", r.Findings)
			}
			_, err := f.openState(t, state)
			var te *TamperError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), "covers 8 entries") {
				t.Fatalf("Open: %v; want a tamper error naming the verified size 8", err)
			}
		})
	}
}

// TestOpenRebuildsTreeCache: a lost, torn or corrupted tree cache is
// rebuilt from the entries; appends go on and the ledger verifies.
func TestOpenRebuildsTreeCache(t *testing.T) {
	for name, damage := range map[string]func(b []byte) []byte{
		"deleted":   func([]byte) []byte { return nil },
		"torn":      func(b []byte) []byte { return b[:len(b)-7] },
		"corrupted": func(b []byte) []byte { b[len(b)-1] ^= 1; b[40] ^= 1; return b },
		"zeroed":    func(b []byte) []byte { return make([]byte, len(b)) },
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			populate(t, f)
			f.write(t, damage(f.read(t, "ledger", treeName)), "ledger", treeName)
			l := f.open(t)
			mustAppend(t, l, Entry{Kind: KindResume, Template: "tpl-rocky-9"})
			l.Close()
			if r := f.verify(t); r.Status() != StatusIntact || r.Sealed != 9 {
				t.Fatalf("after rebuilding the cache: %s %v", r.Status(), r.Findings)
			}
			l = f.open(t) // the rebuilt cache serves the quick path
			if l.tree.records() != 9 {
				t.Fatalf("tree cache holds %d records, want 9", l.tree.records())
			}
			l.Close()
		})
	}
}

// TestVerifyHistoryFindsWhatOpenSkips: an old line edited while the writer
// runs passes Open's quick check; VerifyHistory, the daemon's background
// check, reports it and its entry records the result.
func TestVerifyHistoryFindsWhatOpenSkips(t *testing.T) {
	f := newFixture(t)
	state := t.TempDir()
	populateState(t, f, state)
	f.editLine(t, 2, `"ts":"2025`, `"ts":"2026`)
	l, err := f.openState(t, state)
	if err != nil {
		t.Fatalf("Open should not read old lines: %v", err)
	}
	defer l.Close()
	r, err := l.VerifyHistory(t.Context(), VerifyOptions{SkipEvidence: true})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, fd := range r.Findings {
		found = found || strings.HasPrefix(fd.Where, "entries.jsonl:3 (seq 2)")
	}
	if r.Status() != StatusTampered || !found {
		t.Fatalf("VerifyHistory: %s %v", r.Status(), r.Findings)
	}
	e := VerifyEntry(r, 1500*1e6)
	seq := mustAppend(t, l, e)
	d, err := decodeLine(bytes.TrimSuffix(f.lines(t)[seq], []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	got := d.Entry
	if got.Kind != KindLedgerVerify || got.Result != "tampered" || got.Detail["duration_ms"] != "1500" || !strings.Contains(got.Detail["first"], "history was changed") {
		t.Fatalf("ledger.verify entry: %+v", got)
	}
}

// TestRepairChecksEverything: Repair runs the full check, so it refuses an
// old line edited, which Open's quick check does not read.
func TestRepairChecksEverything(t *testing.T) {
	f := newFixture(t)
	populate(t, f)
	f.editLine(t, 2, `"ts":"2025`, `"ts":"2026`)
	var te *TamperError
	if _, err := Repair(t.Context(), Options{Dir: f.dir, KeyFile: f.keyFile}); !errors.As(err, &te) {
		t.Fatalf("Repair: %v; want a tamper error", err)
	}
}
