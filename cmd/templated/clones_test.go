package main

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"templated/internal/ancestry"
)

// lineagesFixture is one template with clones of every kind: two of the
// current build (one linked), two of older builds, one unstamped linked
// clone; and one template without clones.
func lineagesFixture() []ancestry.Lineage {
	cur := ancestry.Build{Template: "tpl-a", Release: "1.1.0", InputsHash: "aaaaaaaaaaaa", BuiltAt: time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC), Images: "3f1c2e44a1b2"}
	old := ancestry.Build{Template: "tpl-a", Release: "1.0.0", InputsHash: "bbbbbbbbbbbb", BuiltAt: cur.BuiltAt.AddDate(0, 0, -35)}
	older := ancestry.Build{Template: "tpl-a", Release: "0.9.0", InputsHash: "cccccccccccc", BuiltAt: cur.BuiltAt.AddDate(0, 0, -100)}
	now := cur.BuiltAt.Add(2 * time.Hour)
	clone := func(vmid int, name string, b ancestry.Build, linked bool) ancestry.Clone {
		c := ancestry.Clone{VMID: vmid, Name: name, Node: "pve1", Build: b, Linked: linked, Behind: cur.BuiltAt.Sub(b.BuiltAt)}
		if !b.BuiltAt.IsZero() {
			c.Age = now.Sub(b.BuiltAt)
		}
		return c
	}
	return []ancestry.Lineage{
		{Template: "tpl-a", VMID: 9000, Current: &cur,
			Clones:    []ancestry.Clone{clone(120, "web-1", cur, false), clone(121, "web-2", cur, true)},
			Outdated:  []ancestry.Clone{clone(110, "rke2-1", older, false), clone(111, "rke2-2", old, true)},
			Unstamped: []ancestry.Clone{{VMID: 130, Name: "edited", Node: "pve1", Linked: true}}},
		{Template: "tpl-b", VMID: 9001, Clones: []ancestry.Clone{}, Outdated: []ancestry.Clone{}, Unstamped: []ancestry.Clone{}},
	}
}

// TestClonesTable: per template its current build and the clones, with
// the build each came from, how far behind it is, and whether it is
// linked; --outdated leaves the current ones out.
func TestClonesTable(t *testing.T) {
	var b bytes.Buffer
	if err := writeClones(&b, clonesDoc{Templates: selectLineages(lineagesFixture(), "", false)}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"tpl-a (9000): current build 1.1.0 of 2026-12-01 03:00 UTC; 2 current, 2 outdated, 1 unstamped\n",
		"tpl-b (9001): no build of templated's at its VMID; no clones\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	rows := map[string]*regexp.Regexp{
		"120": regexp.MustCompile(`(?m)^  120 +web-1 +pve1 +1\.1\.0 +2026-12-01 03:00 UTC +current +-$`),
		"121": regexp.MustCompile(`(?m)^  121 +web-2 +pve1 +1\.1\.0 +2026-12-01 03:00 UTC +current +linked$`),
		"110": regexp.MustCompile(`(?m)^  110 +rke2-1 +pve1 +0\.9\.0 +2026-08-23 03:00 UTC +100 days behind +-$`),
		"111": regexp.MustCompile(`(?m)^  111 +rke2-2 +pve1 +1\.0\.0 +2026-10-27 03:00 UTC +35 days behind +linked$`),
		"130": regexp.MustCompile(`(?m)^  130 +edited +pve1 +- +- +unstamped \(linked clone, stamp gone\) +linked$`),
	}
	for vmid, re := range rows {
		if !re.MatchString(out) {
			t.Errorf("row %s missing or wrong:\n%s", vmid, out)
		}
	}
	// Current first, then outdated oldest first, then unstamped.
	if i, j, k := strings.Index(out, "  120 "), strings.Index(out, "  110 "), strings.Index(out, "  130 "); !(i < j && j < k) {
		t.Errorf("rows out of order:\n%s", out)
	}

	b.Reset()
	if err := writeClones(&b, clonesDoc{OutdatedOnly: true, Templates: selectLineages(lineagesFixture(), "", true)}); err != nil {
		t.Fatal(err)
	}
	out = b.String()
	if strings.Contains(out, "web-") || !strings.Contains(out, "rke2-1") || !strings.Contains(out, "rke2-2") || !strings.Contains(out, "edited") {
		t.Errorf("--outdated:\n%s", out)
	}
	if !strings.Contains(out, "; 2 outdated, 1 unstamped\n") || !strings.Contains(out, "tpl-b (9001): no build of templated's at its VMID; no outdated clones\n") {
		t.Errorf("--outdated summaries:\n%s", out)
	}

	if ls := selectLineages(lineagesFixture(), "tpl-b", false); len(ls) != 1 || ls[0].Template != "tpl-b" {
		t.Errorf("NAME tpl-b selects %+v", ls)
	}
}

func TestClonesBehind(t *testing.T) {
	cur := &ancestry.Build{BuiltAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	for _, tc := range []struct {
		built   time.Time
		current *ancestry.Build
		want    string
	}{
		{cur.BuiltAt.Add(-35*24*time.Hour - time.Hour), cur, "35 days behind"},
		{cur.BuiltAt.Add(-24 * time.Hour), cur, "1 day behind"},
		{cur.BuiltAt.Add(-5 * time.Hour), cur, "5 hours behind"},
		{cur.BuiltAt.Add(-time.Minute), cur, "1 minute behind"},
		{cur.BuiltAt.Add(3 * 24 * time.Hour), cur, "3 days ahead"},
		{cur.BuiltAt, cur, "outdated (another build of the same time)"},
		{cur.BuiltAt, nil, "outdated (no current build)"},
		{time.Time{}, cur, "outdated"},
	} {
		if got := behind(ancestry.Clone{Build: ancestry.Build{BuiltAt: tc.built}}, tc.current); got != tc.want {
			t.Errorf("built %s: %q, want %q", tc.built, got, tc.want)
		}
	}
}

// TestClonesParsesNameAnywhere: NAME may come before or after the flags.
func TestClonesParsesNameAnywhere(t *testing.T) {
	for _, args := range [][]string{
		{"tpl-a", "--outdated", "--json"},
		{"--outdated", "tpl-a", "--json"},
		{"--json", "--outdated", "tpl-a"},
	} {
		fs := newFlagSet("clones", &bytes.Buffer{})
		outdated, asJSON := fs.Bool("outdated", false, ""), fs.Bool("json", false, "")
		names, err := parseInterspersed(fs, args)
		if err != nil || len(names) != 1 || names[0] != "tpl-a" || !*outdated || !*asJSON {
			t.Errorf("%v: names %v, outdated %v, json %v, err %v", args, names, *outdated, *asJSON, err)
		}
	}
}

// TestClonesJSONMatchesDocs keeps docs/clones-json.md and the encoder in
// agreement: every emitted field is documented and every documented one
// emitted (outdated[] and unstamped[] are documented as clones[]).
func TestClonesJSONMatchesDocs(t *testing.T) {
	var buf bytes.Buffer
	doc := clonesDoc{FormatVersion: clonesFormatVersion, TracedAt: time.Now().UTC(), Templates: lineagesFixture()}
	if err := writeClonesJSON(&buf, doc); err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]bool{}
	jsonKeys("", v, got)

	text, err := os.ReadFile("../../docs/clones-json.md")
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile("^## (?:Top level|`([a-z_.\\[\\]]+)`)")
	row := regexp.MustCompile("^\\| `([a-z0-9_]+)` \\|")
	documented := map[string]map[string]bool{}
	section := "-"
	for _, line := range strings.Split(string(text), "\n") {
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
	if len(documented) < 5 {
		t.Fatalf("parsed only %d sections from the docs", len(documented))
	}
}

// jsonKeys collects the JSON keys under each section of v, naming the
// entries of outdated[] and unstamped[] as clones[] (one shape).
func jsonKeys(section string, v any, out map[string]map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if out[section] == nil {
			out[section] = map[string]bool{}
		}
		for k, val := range x {
			out[section][k] = true
			sub := k
			if k == "outdated" || k == "unstamped" {
				sub = "clones"
			}
			if section != "" {
				sub = section + "." + sub
			}
			jsonKeys(sub, val, out)
		}
	case []any:
		for _, e := range x {
			jsonKeys(section+"[]", e, out)
		}
	}
}
