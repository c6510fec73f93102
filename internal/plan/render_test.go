package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// full returns a plan with every field set, so that every key is emitted.
func full() Plan {
	at := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)
	return Plan{
		FormatVersion: FormatVersion, DesiredSHA256: "abc", PlannedAt: at,
		Summary: Summary{Create: 1, Rebuild: 1, Keep: 1, Blocked: 1},
		Actions: []Action{
			{Template: "tpl-a", VMID: 9000, Node: "pve1", Kind: Rebuild, Release: "1.0.0", InputsHash: "ff",
				Reasons: []Reason{{Code: ReasonMaxAge, Message: "old"}},
				Current: &Current{Name: "tpl-a", Template: true, Managed: true, Release: "0.9.0", InputsHash: "ee", BuiltAt: &at, Cores: 2, MemoryMiB: 2048, DiskGB: 20}},
			{Template: "tpl-b", VMID: 9001, Node: "pve1", Kind: Create, Reasons: []Reason{{Code: ReasonMissing, Message: "m"}}},
			{Template: "tpl-c", VMID: 9002, Node: "pve1", Kind: Keep, Reasons: []Reason{{Code: ReasonUpToDate, Message: "ok"}}},
			{Template: "tpl-d", VMID: 9003, Node: "pve1", Kind: Blocked, Reasons: []Reason{{Code: ReasonPlainVM, Message: "vm"}}},
		},
		Unmanaged: []Unmanaged{{VMID: 9150, Name: "x", Type: "qemu", Template: true, Note: "n"}},
	}
}

// keys collects the JSON keys under each section of v.
func keys(section string, v any, out map[string]map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if out[section] == nil {
			out[section] = map[string]bool{}
		}
		for k, val := range x {
			out[section][k] = true
			sub := k
			if section != "" {
				sub = section + "." + k
			}
			keys(sub, val, out)
		}
	case []any:
		for _, e := range x {
			keys(section+"[]", e, out)
		}
	}
}

// TestJSONMatchesDocs keeps docs/plan-json.md and the encoder in agreement.
func TestJSONMatchesDocs(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, full()); err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]bool{}
	keys("", v, got)

	doc, err := os.ReadFile("../../docs/plan-json.md")
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile("^## (?:Top level|`([a-z_.\\[\\]]+)`)")
	row := regexp.MustCompile("^\\| `([a-z0-9_]+)` \\|")
	documented := map[string]map[string]bool{}
	section := "-"
	for _, line := range strings.Split(string(doc), "\n") {
		if m := heading.FindStringSubmatch(line); m != nil {
			section = m[1]
			continue
		}
		if strings.HasPrefix(line, "## ") {
			section = "-"
		}
		if m := row.FindStringSubmatch(line); m != nil && section != "-" {
			if documented[section] == nil {
				documented[section] = map[string]bool{}
			}
			documented[section][m[1]] = true
		}
	}
	for sec, ks := range got {
		for k := range ks {
			if !documented[sec][k] {
				t.Errorf("field %q in section %q is emitted but not documented", k, sec)
			}
		}
	}
	for sec, ks := range documented {
		for k := range ks {
			if !got[sec][k] {
				t.Errorf("field %q in section %q is documented but not emitted", k, sec)
			}
		}
	}
	var secs []string
	for s := range documented {
		secs = append(secs, s)
	}
	sort.Strings(secs)
	if len(secs) < 5 {
		t.Fatalf("parsed only sections %v from the docs", secs)
	}
}

func TestTextColourAndSymbols(t *testing.T) {
	var plain, colour bytes.Buffer
	_ = WriteText(&plain, full(), TextOptions{})
	_ = WriteText(&colour, full(), TextOptions{Color: true})
	if strings.Contains(plain.String(), "\x1b[") {
		t.Error("plain output has escape codes")
	}
	if !strings.Contains(colour.String(), "\x1b[") {
		t.Error("coloured output has no escape codes")
	}
	for _, want := range []string{"-/+ tpl-a (9000)", "+ tpl-b (9001)", "! tpl-d (9003)", "1 unchanged: tpl-c (9002)", "Plan: 1 to create, 1 to rebuild, 1 unchanged, 1 blocked."} {
		if !strings.Contains(plain.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, plain.String())
		}
	}
}
