package ledger

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDuplicateKey(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1,"b":2}`:                         "",
		`{"a":1,"a":2}`:                         "a",
		`{"a":{"x":1},"b":{"x":2}}`:             "",
		`{"a":{"x":1,"x":2}}`:                   "x",
		`{"a":[{"k":1},{"k":2}]}`:               "",
		`{"a":[{"k":1,"k":2}]}`:                 "k",
		`{"a\"b":1,"a\"b":2}`:                   `a"b`,
		`{"\u0061":1,"a":2}`:                    "a",
		`{"s":"a,\"b\":1","b":2}`:               "",
		`{"d":{"a":1},"a":{"a":{"a":1}}}`:       "",
		`{"d":{"a":1},"a":{"a":{"a":1}},"a":1}`: "a",
	} {
		got, _ := duplicateKey([]byte(in))
		if got != want {
			t.Errorf("duplicateKey(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeLineStrict(t *testing.T) {
	f := newFixture(t)
	populate(t, f)
	line := bytes.TrimSuffix(f.lines(t)[0], []byte("\n"))
	if _, err := decodeLine(line); err != nil {
		t.Fatalf("canonical line: %v", err)
	}
	for name, tc := range map[string]struct{ in, want string }{
		"unknown key":  {strings.Replace(string(line), `"v":1,`, `"v":1,"x":0,`, 1), `unknown key "x"`},
		"dup key":      {strings.Replace(string(line), `"v":1,`, `"v":1,"v":1,`, 1), `duplicate key "v"`},
		"space":        {strings.Replace(string(line), `"v":1,`, `"v": 1,`, 1), "not in canonical form"},
		"reordered":    {strings.Replace(string(line), `{"v":1,"seq":0,`, `{"seq":0,"v":1,`, 1), "not in canonical form"},
		"wrong type":   {strings.Replace(string(line), `"seq":0`, `"seq":"0"`, 1), "invalid entry"},
		"not UTF-8":    {string(line[:20]) + "\xff" + string(line[21:]), "not valid UTF-8"},
		"not JSON":     {string(line[:len(line)-1]), "invalid JSON"},
		"trailing obj": {string(line) + "{}", "invalid JSON"},
	} {
		if _, err := decodeLine([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// TestEveryByteFlipDetected flips each byte of a sealed line in the middle
// and of the last line, one at a time: every flip must be called tampering.
func TestEveryByteFlipDetected(t *testing.T) {
	f := newFixture(t)
	populate(t, f)
	raw := f.read(t, "ledger", entriesName)
	ls := f.lines(t)
	flips := 0
	for _, i := range []int{3, 7} {
		start := 0
		for _, l := range ls[:i] {
			start += len(l)
		}
		for k := start; k < start+len(ls[i]); k++ {
			b := bytes.Clone(raw)
			b[k] ^= 0x01
			f.write(t, b, "ledger", entriesName)
			r, err := Verify(context.Background(), VerifyOptions{Dir: f.dir, VerifierKeys: []string{f.vkey}, SkipEvidence: true})
			if err != nil {
				t.Fatal(err)
			}
			if r.Status() != StatusTampered {
				t.Fatalf("flip at line %d byte %d (%q) not detected: %s %v", i, k-start, raw[k], r.Status(), r.Findings)
			}
			flips++
		}
	}
	f.write(t, raw, "ledger", entriesName)
	t.Logf("%d single-byte flips, all detected", flips)
}
