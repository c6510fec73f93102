package ledger

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

func (f *fixture) lines(t testing.TB) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(f.path("ledger", entriesName))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(raw, []byte("\n"))[:bytes.Count(raw, []byte("\n"))]
}

func (f *fixture) writeLines(t testing.TB, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(f.path("ledger", entriesName), bytes.Join(lines, nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

// editLine replaces the first occurrence of old in line i.
func (f *fixture) editLine(t testing.TB, i int, old, new string) {
	t.Helper()
	ls := f.lines(t)
	if !bytes.Contains(ls[i], []byte(old)) {
		t.Fatalf("line %d has no %q: %s", i, old, ls[i])
	}
	ls[i] = bytes.Replace(ls[i], []byte(old), []byte(new), 1)
	f.writeLines(t, ls)
}

func (f *fixture) read(t testing.TB, elem ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(f.path(elem...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) write(t testing.TB, b []byte, elem ...string) {
	t.Helper()
	if err := os.WriteFile(f.path(elem...), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) remove(t testing.TB, elem ...string) {
	t.Helper()
	if err := os.Remove(f.path(elem...)); err != nil {
		t.Fatal(err)
	}
}

// rewrite re-creates entries.jsonl and every checkpoint from entries, signed
// with key: what an attacker holding a key can do.
func (f *fixture) rewrite(t testing.TB, key *signingKey, entries []Entry) {
	t.Helper()
	var buf bytes.Buffer
	var store hashStore
	var prev tlog.Hash
	notes := filepath.Join(f.dir, "ledger", notesDirName)
	if err := os.RemoveAll(notes); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(notes, 0o755); err != nil {
		t.Fatal(err)
	}
	var msg []byte
	for i, e := range entries {
		e.Seq, e.Prev = uint64(i), hex.EncodeToString(prev[:])
		line, err := encodeLine(e, key.priv)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(append(line, '\n'))
		prev = tlog.RecordHash(line)
		if err := store.add(int64(i), prev); err != nil {
			t.Fatal(err)
		}
		root, _ := store.root(int64(i + 1))
		if msg, err = signCheckpoint(Checkpoint{Origin: key.signer.Name(), Size: int64(i + 1), Root: root}, key); err != nil {
			t.Fatal(err)
		}
		f.write(t, msg, "ledger", notesDirName, noteName(int64(i+1)))
	}
	f.write(t, buf.Bytes(), "ledger", entriesName)
	f.write(t, msg, "ledger", checkpointName)
}

func (f *fixture) entries(t testing.TB) []Entry {
	t.Helper()
	es, err := ReadEntries(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func (f *fixture) key(t testing.TB) *signingKey {
	t.Helper()
	k, err := loadKey(f.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func otherKey(t testing.TB, name string) (*signingKey, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "other.key")
	vkey, err := GenerateKey(p, name)
	if err != nil {
		t.Fatal(err)
	}
	k, err := loadKey(p)
	if err != nil {
		t.Fatal(err)
	}
	return k, vkey
}

// editEnvelope rewrites build b1's DSSE envelope through fn.
func (f *fixture) editEnvelope(t testing.TB, fn func(env *Envelope)) {
	t.Helper()
	p := []string{"tpl-ubuntu-24.04", "b1", FileProvenance}
	var env Envelope
	if err := json.Unmarshal(f.read(t, p...), &env); err != nil {
		t.Fatal(err)
	}
	fn(&env)
	b, _ := json.Marshal(env)
	f.write(t, b, p...)
}

type tamperCase struct {
	name   string
	mutate func(t *testing.T, f *fixture) VerifyOptions
	want   string // substring of one tamper finding: "where: message"
}

// Line numbers below index populate's ledger: 0 decision, 1 build.started
// b1, 2 build.finished b1, 3 swap, 4 build.started b2, 5 build.finished b2,
// 6 desired.rejected, 7 decision.
var tamperCases = []tamperCase{
	{"byte flipped in seq", func(t *testing.T, f *fixture) VerifyOptions {
		f.editLine(t, 3, `"seq":3`, `"seq":5`)
		return VerifyOptions{}
	}, "entries.jsonl:4 (seq 3): seq is 5, want 3"},
	{"byte flipped in ts", func(t *testing.T, f *fixture) VerifyOptions {
		f.editLine(t, 2, `"ts":"2025`, `"ts":"2026`)
		return VerifyOptions{}
	}, "entries.jsonl:3 (seq 2): signature does not verify with a trusted key: the line was changed"},
	{"byte flipped in kind", func(t *testing.T, f *fixture) VerifyOptions {
		f.editLine(t, 3, `"kind":"swap"`, `"kind":"swab"`)
		return VerifyOptions{}
	}, "entries.jsonl:5 (seq 4): prev does not match the hash of seq 3"},
	{"byte flipped in prev", func(t *testing.T, f *fixture) VerifyOptions {
		ls := f.lines(t)
		i := bytes.Index(ls[4], []byte(`"prev":"`)) + 8
		ls[4][i] ^= 1
		f.writeLines(t, ls)
		return VerifyOptions{}
	}, "entries.jsonl:5 (seq 4): prev does not match the hash of seq 3"},
	{"byte flipped in result", func(t *testing.T, f *fixture) VerifyOptions {
		f.editLine(t, 5, `"result":"failure"`, `"result":"success"`)
		return VerifyOptions{}
	}, "entries.jsonl:6 (seq 5): signature does not verify"},
	{"byte flipped in evidence digest", func(t *testing.T, f *fixture) VerifyOptions {
		e := f.entries(t)[2].Evidence[0]
		c := "0"
		if e.SHA256[0] == '0' {
			c = "1"
		}
		f.editLine(t, 2, e.SHA256, c+e.SHA256[1:])
		return VerifyOptions{}
	}, "entries.jsonl:3 (seq 2): signature does not verify"},
	{"byte flipped in sig of the last line", func(t *testing.T, f *fixture) VerifyOptions {
		ls := f.lines(t)
		i := bytes.Index(ls[7], []byte(`"sig":"`)) + 7
		if ls[7][i] == 'A' { // stay valid base64: only the signature is wrong
			ls[7][i] = 'B'
		} else {
			ls[7][i] = 'A'
		}
		f.writeLines(t, ls)
		return VerifyOptions{}
	}, "entries.jsonl:8 (seq 7): signature does not verify"},
	{"byte flipped in JSON syntax", func(t *testing.T, f *fixture) VerifyOptions {
		f.editLine(t, 1, `{"v":1,`, `["v":1,`)
		return VerifyOptions{}
	}, "entries.jsonl:2 (seq 1): invalid JSON"},
	{"line deleted", func(t *testing.T, f *fixture) VerifyOptions {
		ls := f.lines(t)
		f.writeLines(t, append(ls[:3:3], ls[4:]...))
		return VerifyOptions{}
	}, "entries.jsonl:4 (seq 3): seq is 4, want 3: a line was deleted, duplicated or reordered"},
	{"line duplicated", func(t *testing.T, f *fixture) VerifyOptions {
		ls := f.lines(t)
		f.writeLines(t, append(ls[:4:4], ls[3:]...))
		return VerifyOptions{}
	}, "entries.jsonl:5 (seq 4): seq is 3, want 4"},
	{"lines reordered", func(t *testing.T, f *fixture) VerifyOptions {
		ls := f.lines(t)
		ls[5], ls[6] = ls[6], ls[5]
		f.writeLines(t, ls)
		return VerifyOptions{}
	}, "entries.jsonl:6 (seq 5): seq is 6, want 5"},
	{"truncated below the last checkpoint", func(t *testing.T, f *fixture) VerifyOptions {
		f.writeLines(t, f.lines(t)[:6])
		return VerifyOptions{}
	}, "covers 8 entries but entries.jsonl has 6 complete lines: sealed entries were deleted or truncated"},
	{"forged line appended", func(t *testing.T, f *fixture) VerifyOptions {
		ls := f.lines(t)
		last := tlog.RecordHash(bytes.TrimSuffix(ls[7], []byte("\n")))
		k, _ := otherKey(t, "templated.test/ledger")
		line, _ := encodeLine(Entry{V: 1, Seq: 8, TS: "2025-05-02T00:00:00Z", Kind: KindResume,
			Prev: hex.EncodeToString(last[:]), Template: "tpl-rocky-9"}, k.priv)
		f.writeLines(t, append(ls, append(line, '\n')))
		return VerifyOptions{}
	}, "entries.jsonl:9 (seq 8): signature does not verify with a trusted key: a forged entry was appended after checkpoint 8"},
	{"history rewritten and re-signed with another key", func(t *testing.T, f *fixture) VerifyOptions {
		es := f.entries(t)
		es[5].Result = "success"
		k, vkey := otherKey(t, "templated.test/ledger")
		f.rewrite(t, k, es)
		f.write(t, []byte(vkey+"\n"), "ledger", vkeyName)
		return VerifyOptions{}
	}, "checkpoint: not signed by a trusted key (signed by templated.test/ledger+"},
	{"checkpoint rolled back and newer archives deleted", func(t *testing.T, f *fixture) VerifyOptions {
		f.write(t, f.read(t, "ledger", notesDirName, noteName(5)), "ledger", checkpointName)
		for n := int64(6); n <= 8; n++ {
			f.remove(t, "ledger", notesDirName, noteName(n))
		}
		return VerifyOptions{}
	}, "3 entries follow the latest checkpoint (size 5) but a crash leaves at most one"},
	{"checkpoint rolled back", func(t *testing.T, f *fixture) VerifyOptions {
		f.write(t, f.read(t, "ledger", notesDirName, noteName(3)), "ledger", checkpointName)
		return VerifyOptions{}
	}, "checkpoint: was rolled back: it is at size 3 but checkpoints/000000000008.note exists"},
	{"archived checkpoint deleted", func(t *testing.T, f *fixture) VerifyOptions {
		f.remove(t, "ledger", notesDirName, noteName(8))
		return VerifyOptions{}
	}, "checkpoint: size 8 has no archived copy"},
	{"checkpoint signature flipped", func(t *testing.T, f *fixture) VerifyOptions {
		b := f.read(t, "ledger", notesDirName, noteName(4))
		if b[len(b)-10] == 'A' { // stay valid base64: only the signature is wrong
			b[len(b)-10] = 'B'
		} else {
			b[len(b)-10] = 'A'
		}
		f.write(t, b, "ledger", notesDirName, noteName(4))
		return VerifyOptions{}
	}, "checkpoints/000000000004.note: invalid signature by templated.test/ledger+"},
	{"evidence file modified", func(t *testing.T, f *fixture) VerifyOptions {
		f.write(t, []byte("==> all good, nothing failed\n"), "tpl-rocky-9", "b2", FilePackerLog)
		return VerifyOptions{}
	}, "tpl-rocky-9/b2/packer.log: sha256"},
	{"evidence file deleted", func(t *testing.T, f *fixture) VerifyOptions {
		f.remove(t, "tpl-ubuntu-24.04", "b1", FileManifest)
		return VerifyOptions{}
	}, "tpl-ubuntu-24.04/b1/packer-manifest.json: evidence recorded by seq 2 is missing: deleted"},
	{"evidence files swapped between builds", func(t *testing.T, f *fixture) VerifyOptions {
		a, b := f.read(t, "tpl-ubuntu-24.04", "b1", FileBuildJSON), f.read(t, "tpl-rocky-9", "b2", FileBuildJSON)
		f.write(t, b, "tpl-ubuntu-24.04", "b1", FileBuildJSON)
		f.write(t, a, "tpl-rocky-9", "b2", FileBuildJSON)
		return VerifyOptions{}
	}, "tpl-ubuntu-24.04/b1/build.json: sha256"},
	{"DSSE payload edited", func(t *testing.T, f *fixture) VerifyOptions {
		f.editEnvelope(t, func(env *Envelope) {
			p, _ := base64.StdEncoding.DecodeString(env.Payload)
			env.Payload = base64.StdEncoding.EncodeToString(bytes.Replace(p, []byte("pve1"), []byte("pve9"), 1))
		})
		return VerifyOptions{}
	}, "tpl-ubuntu-24.04/b1/provenance.intoto.json: DSSE signature does not verify with a trusted key"},
	{"DSSE payloadType swapped", func(t *testing.T, f *fixture) VerifyOptions {
		f.editEnvelope(t, func(env *Envelope) { env.PayloadType = "application/json" })
		return VerifyOptions{}
	}, "tpl-ubuntu-24.04/b1/provenance.intoto.json: DSSE signature does not verify"},
	{"DSSE unknown key", func(t *testing.T, f *fixture) VerifyOptions {
		p := f.path("tpl-ubuntu-24.04", "b1", FileProvenance)
		b, _ := os.ReadFile(p)
		f.write(t, bytes.Replace(b, []byte(`"payload"`), []byte(`"extra":1,"payload"`), 1), "tpl-ubuntu-24.04", "b1", FileProvenance)
		return VerifyOptions{}
	}, `provenance.intoto.json: DSSE envelope: json: unknown field "extra"`},
	{"DSSE envelope replaced by broken JSON", func(t *testing.T, f *fixture) VerifyOptions {
		f.write(t, []byte("}"), "tpl-ubuntu-24.04", "b1", FileProvenance)
		return VerifyOptions{}
	}, "provenance.intoto.json: DSSE envelope is not valid JSON"},
	{"untrusted key", func(t *testing.T, f *fixture) VerifyOptions {
		_, vkey := otherKey(t, "templated.test/ledger")
		return VerifyOptions{VerifierKeys: []string{vkey}}
	}, "checkpoint: not signed by a trusted key"},
	{"unknown JSON key", func(t *testing.T, f *fixture) VerifyOptions {
		f.editLine(t, 6, `"kind":`, `"admin":true,"kind":`)
		return VerifyOptions{}
	}, `entries.jsonl:7 (seq 6): unknown key "admin"`},
	{"duplicate JSON key", func(t *testing.T, f *fixture) VerifyOptions {
		f.editLine(t, 6, `"kind":"desired.rejected"`, `"kind":"desired.rejected","kind":"decision"`)
		return VerifyOptions{}
	}, `entries.jsonl:7 (seq 6): duplicate key "kind"`},
	{"JSON key in another case", func(t *testing.T, f *fixture) VerifyOptions {
		f.editLine(t, 6, `"kind":`, `"Kind":`)
		return VerifyOptions{}
	}, "entries.jsonl:7 (seq 6): not in canonical form"},
	{"rewritten with the real key: trusted checkpoint mismatch", func(t *testing.T, f *fixture) VerifyOptions {
		trusted := f.read(t, "ledger", notesDirName, noteName(6))
		es := f.entries(t)
		es[5].Result = "success"
		f.rewrite(t, f.key(t), es)
		if r := f.verify(t); r.Status() != StatusIntact {
			t.Fatalf("a rewrite with the real key should verify locally: %v", r.Findings)
		}
		return VerifyOptions{TrustedCheckpoints: []TrustedCheckpoint{{Name: "jenkins-12.note", Note: trusted}}}
	}, "trusted checkpoint jenkins-12.note: root differs from the ledger's first 6 entries: history was rewritten"},
	{"rolled back with the real key: trusted checkpoint beyond the ledger", func(t *testing.T, f *fixture) VerifyOptions {
		trusted := f.read(t, "ledger", checkpointName)
		f.rewrite(t, f.key(t), f.entries(t)[:5])
		return VerifyOptions{TrustedCheckpoints: []TrustedCheckpoint{{Name: "git", Note: trusted}}}
	}, "trusted checkpoint git: covers 8 entries but the ledger has 5: history was truncated or rolled back"},
}

// openCatches are the tamper cases Open alone refuses (the others only
// Verify finds): those touching the newest checkpoint, the archive next to
// it, the last entry, or history this host already verified.
var openCatches = map[string]bool{
	"byte flipped in sig of the last line":                                true,
	"truncated below the last checkpoint":                                 true,
	"forged line appended":                                                true,
	"history rewritten and re-signed with another key":                    true,
	"checkpoint rolled back and newer archives deleted":                   true,
	"checkpoint rolled back":                                              true,
	"archived checkpoint deleted":                                         true,
	"rewritten with the real key: trusted checkpoint mismatch":            true,
	"rolled back with the real key: trusted checkpoint beyond the ledger": true,
}

func TestTamperDetected(t *testing.T) {
	if len(tamperCases) < 20 {
		t.Fatalf("only %d tamper cases", len(tamperCases))
	}
	detected := 0
	for _, tc := range tamperCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			populate(t, f)
			if r := f.verify(t); r.Status() != StatusIntact || len(r.Findings) != 0 {
				t.Fatalf("before tampering: %v", r.Findings)
			}
			opts := tc.mutate(t, f)
			opts.Dir = f.dir
			if opts.VerifierKeys == nil {
				opts.VerifierKeys = []string{f.vkey}
			}
			r, err := Verify(t.Context(), opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			found := false
			for _, fd := range r.Findings {
				s := fd.Where + ": " + fd.Message
				got = append(got, string(fd.Severity)+" "+s)
				found = found || (fd.Severity == SeverityTamper && strings.Contains(s, tc.want))
			}
			if r.Status() != StatusTampered || r.ExitCode() != 1 || !found {
				t.Fatalf("status %s; want a tamper finding containing %q; got:\n%s", r.Status(), tc.want, strings.Join(got, "\n"))
			}
			// Open checks only the newest checkpoint, the last entry and a
			// consistency proof from the checkpoint this host verified last
			// (populate's Close recorded size 8): it refuses exactly the
			// cases openCatches lists (docs/evidence.md lists them too).
			l, err := Open(t.Context(), Options{Dir: f.dir, KeyFile: f.keyFile})
			if caught := err != nil; caught != openCatches[tc.name] {
				t.Fatalf("Open refused: %v (err %v); want %v", caught, err, openCatches[tc.name])
			}
			if err == nil {
				l.Close()
			}
			detected++
		})
	}
	t.Logf("tamper cases detected: %d/%d (0 findings on each clean ledger before tampering)", detected, len(tamperCases))
}
