package state

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds arbitrary bytes to Parse. Invariants: it never panics;
// it returns either a *Desired that survives a round trip (encode, parse
// again, same images and templates) or a *ValidationError whose problems all have a
// position and a message; and it is deterministic.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.yaml")
	for _, file := range seeds {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(bytes.NewReader(data), "fuzz.yaml", ParseOptions{})
		if err != nil {
			checkProblems(t, data, err)
			return
		}
		if d == nil || d.Version != FormatVersion {
			t.Fatalf("no error but Desired %+v", d)
		}
		if !utf8.Valid(data) {
			t.Fatal("accepted a file that is not UTF-8")
		}
		again, err := Parse(bytes.NewReader(encode(d)), "roundtrip.yaml", ParseOptions{})
		if err != nil {
			t.Fatalf("re-encoded file does not parse: %v\n%s", err, encode(d))
		}
		if a, b := comparable(d), comparable(again); !reflect.DeepEqual(a, b) {
			t.Fatalf("round trip changed the templates:\n%+v\n%+v", a, b)
		}
	})
}

func checkProblems(t *testing.T, data []byte, err error) {
	t.Helper()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error is %T, want *ValidationError: %v", err, err)
	}
	if len(verr.Problems) == 0 {
		t.Fatal("ValidationError without problems")
	}
	for _, p := range verr.Problems {
		if p.Line < 1 || p.Col < 1 || p.Msg == "" || p.File != "fuzz.yaml" {
			t.Fatalf("bad problem %+v", p)
		}
	}
	if _, again := Parse(bytes.NewReader(data), "fuzz.yaml", ParseOptions{}); again == nil || again.Error() != err.Error() {
		t.Fatalf("not deterministic:\n%v\n---\n%v", err, again)
	}
}

// comparable strips what a round trip may change (positions, the hash of
// the bytes, pointers) and renders the rest.
func comparable(d *Desired) []any {
	out := []any{d.Version, d.VMIDs, d.Defaults.Storage}
	for _, im := range d.Images {
		im.Line = 0
		out = append(out, im)
	}
	for _, t := range d.Templates {
		t.Line = 0
		next := ""
		if t.Schedule != nil {
			next = t.Schedule.Next(goldenRef).String()
		}
		rel := t.Release.String()
		loc := t.Location.String()
		t.Schedule, t.Release, t.Location = nil, nil, nil
		out = append(out, t, next, rel, loc)
	}
	return out
}
