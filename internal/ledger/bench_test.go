package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// BenchmarkAppend measures Append with real fsyncs (line + two checkpoint
// files + directories) and reports p50/p99 latency.
func BenchmarkAppend(b *testing.B) {
	f := newFixture(b)
	l := f.open(b)
	defer l.Close()
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := l.Append(ctx, Entry{Kind: KindStep, Template: "tpl-ubuntu-22.04", BuildID: "b1", Step: "verify", Result: "success"}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// syntheticLedger writes n realistic entries (decisions and build.finished
// with five evidence items) signed with f's key, and one checkpoint.
func syntheticLedger(b *testing.B, f *fixture, n int) {
	k := f.key(b)
	var buf bytes.Buffer
	var store hashStore
	var prev tlog.Hash
	ts := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		e := Entry{V: 1, Seq: uint64(i), TS: ts.Add(time.Duration(i) * time.Minute).Format(time.RFC3339Nano), Prev: hex.EncodeToString(prev[:])}
		if i%2 == 0 {
			e.Kind, e.Desired, e.Reason = KindDecision, testDesired, &Reason{Code: "up-to-date", Detail: "scheduled check"}
			e.Git = &Git{Commit: "7fd1a60b01f91b314f59955a4e4d4e80d8edf11d"}
		} else {
			id := fmt.Sprintf("b%d", i)
			e.Kind, e.Template, e.BuildID, e.Result = KindBuildFinished, "tpl-ubuntu-24.04", id, "success"
			e.Versions = &Versions{Packer: "1.11.2", Templated: "0.1.0"}
			e.Proxmox = &Proxmox{Node: "pve1", ReservedVMID: 9001, StagingVMID: 9901}
			for _, name := range []string{FilePackerLog, FileManifest, FileBuildJSON, FileProvenance, FileSHA256SUMS} {
				e.Evidence = append(e.Evidence, Evidence{Name: name, Path: "tpl-ubuntu-24.04/" + id + "/" + name, SHA256: sha(name), Size: 1234})
			}
		}
		line, err := encodeLine(e, k.priv)
		if err != nil {
			b.Fatal(err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
		prev = tlog.RecordHash(line)
		if err := store.add(int64(i), prev); err != nil {
			b.Fatal(err)
		}
	}
	root, _ := store.root(int64(n))
	msg, err := signCheckpoint(Checkpoint{Origin: k.signer.Name(), Size: int64(n), Root: root}, k)
	if err != nil {
		b.Fatal(err)
	}
	f.write(b, buf.Bytes(), "ledger", entriesName)
	f.write(b, msg, "ledger", notesDirName, noteName(int64(n)))
	f.write(b, msg, "ledger", checkpointName)
}

// BenchmarkVerify measures Verify without hashing evidence files (every
// line decoded strictly, chained, hashed into the tree; one checkpoint).
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			f := newFixture(b)
			syntheticLedger(b, f, n)
			fi, _ := os.Stat(filepath.Join(f.dir, "ledger", entriesName))
			opts := VerifyOptions{Dir: f.dir, VerifierKeys: []string{f.vkey}, SkipEvidence: true}
			b.SetBytes(fi.Size())
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r, err := Verify(context.Background(), opts)
				if err != nil || r.Status() != StatusIntact || r.Entries != int64(n) {
					b.Fatalf("%v %v", err, r.Findings)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkVerifyStrict measures the structural pass plus strict decoding
// of every line (what verify does when it also checks evidence), still
// without hashing evidence files.
func BenchmarkVerifyStrict(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			f := newFixture(b)
			syntheticLedger(b, f, n)
			keys := []trustedKey{mustTrusted(f.vkey)}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				a, err := analyze(f.dir, keys, nil)
				if err != nil || a.report.Status() != StatusIntact {
					b.Fatal(err)
				}
				a.scan.fullAll()
				for _, ln := range a.scan.lines {
					if ln.err != nil {
						b.Fatal(ln.err)
					}
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkOpen measures Open (the daemon's start, every apply) on a
// ledger with one archived checkpoint per entry, as Append leaves it,
// after a first Open built the tree cache and recorded the host's verified
// checkpoint: Open's cost must not grow with history.
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			f := newFixture(b)
			syntheticLedger(b, f, n)
			k := f.key(b)
			a, err := analyze(f.dir, []trustedKey{mustTrusted(f.vkey)}, nil)
			if err != nil {
				b.Fatal(err)
			}
			for size := int64(1); size < int64(n); size++ {
				root, _ := a.scan.store.root(size)
				msg, err := signCheckpoint(Checkpoint{Origin: k.signer.Name(), Size: size, Root: root}, k)
				if err != nil {
					b.Fatal(err)
				}
				f.write(b, msg, "ledger", notesDirName, noteName(size))
			}
			l, err := Open(context.Background(), Options{Dir: f.dir, KeyFile: f.keyFile})
			if err != nil {
				b.Fatal(err)
			}
			l.Close()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				l, err := Open(context.Background(), Options{Dir: f.dir, KeyFile: f.keyFile})
				if err != nil {
					b.Fatal(err)
				}
				l.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/open")
		})
	}
}
