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
				Images:  []ImageUse{{Name: "noble", File: "noble-server-cloudimg-amd64.img", Checksum: "sha256:" + strings.Repeat("3f", 32)}},
				Current: &Current{Name: "tpl-a", Template: true, Managed: true, Release: "0.9.0", InputsHash: "ee", BuiltAt: &at, Cores: 2, MemoryMiB: 2048, DiskGB: 20,
					Images: []string{"6462f4e5d35f"}},
				Clones: &Clones{Current: 3, Outdated: 5, OutdatedByAge: map[string]int{"lt_30d": 1, "30d_90d": 2, "90d_365d": 1, "gt_365d": 1}, Oldest: "0.8.0", BehindSeconds: 86400 * 40}},
			{Template: "tpl-b", VMID: 9001, Node: "pve1", Kind: Create, Reasons: []Reason{{Code: ReasonMissing, Message: "m"}}},
			{Template: "tpl-b-pve2", ReplicaOf: "tpl-b", VMID: 9201, Node: "pve2", Kind: Create, Reasons: []Reason{{Code: ReasonReplicaFollows, Message: "f"}}},
			{Template: "tpl-c", VMID: 9002, Node: "pve1", Kind: Keep, Reasons: []Reason{{Code: ReasonUpToDate, Message: "ok"}}},
			{Template: "tpl-d", VMID: 9003, Node: "pve1", Kind: Blocked, Reasons: []Reason{{Code: ReasonPlainVM, Message: "vm"}}},
		},
		Images: []ImageAction{
			{Name: "noble", Kind: "cloud-image", File: "noble-server-cloudimg-amd64.img", Checksum: "sha256:" + strings.Repeat("3f", 32),
				URL: "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img", Volume: "local:import/noble-server-cloudimg-amd64-3f3f3f3f3f3f.qcow2",
				Nodes: []string{"pve1"}, Base: "base-noble-3f3f3f3f3f3f", New: true, Templates: []string{"tpl-a"}},
			{Name: "virtio-win", Kind: "iso", Nodes: []string{"pve1"}, Error: "checksum file: 404 Not Found"},
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

// imagesPlan is a plan over images in each state the text tells apart.
func imagesPlan() Plan {
	sum := func(b string) string { return "sha256:" + strings.Repeat(b, 32) }
	return Plan{
		FormatVersion: FormatVersion,
		Summary:       Summary{Rebuild: 1, Keep: 1, Blocked: 2},
		Actions: []Action{
			{Template: "tpl-u24", VMID: 9001, Kind: Rebuild, Release: "1.0.0", InputsHash: "ff",
				Reasons: []Reason{{Code: ReasonImageUpdated, Message: "image noble is now noble.img (sha256:3f3f3f3f3f3f…); the template was built from 646264626462…"}},
				Images:  []ImageUse{{Name: "noble", File: "noble.img", Checksum: sum("3f")}}},
			{Template: "tpl-win", VMID: 9002, Kind: Blocked,
				Reasons: []Reason{{Code: ReasonImageUnresolved, Message: "image virtio-win: 404; the build waits until it resolves"}, {Code: ReasonReleaseBumped, Message: "wanted a rebuild: release bumped 1.0.0 → 1.1.0"}},
				Images:  []ImageUse{{Name: "win", File: "win.iso", Checksum: sum("61")}, {Name: "virtio-win"}}},
			{Template: "tpl-alma", VMID: 9003, Kind: Keep, Reasons: []Reason{{Code: ReasonUpToDate, Message: "built 2 days ago; image alma could not be resolved"}},
				Images: []ImageUse{{Name: "alma"}}},
			{Template: "tpl-deb", VMID: 9004, Kind: Blocked, Reasons: []Reason{{Code: ReasonHeld, Message: "held"}},
				Images: []ImageUse{{Name: "trixie", File: "trixie.qcow2", Checksum: sum("7a")}}},
		},
		Images: []ImageAction{
			{Name: "noble", Kind: "cloud-image", File: "noble.img", Checksum: sum("3f"), New: true, Templates: []string{"tpl-u24"}},
			{Name: "win", Kind: "iso", File: "win.iso", Checksum: sum("61")},
			{Name: "virtio-win", Kind: "iso", Error: "404"},
			{Name: "alma", Kind: "iso", Error: "dial tcp: i/o timeout"},
			{Name: "trixie", Kind: "cloud-image", File: "trixie.qcow2", Checksum: sum("7a"), New: true},
		},
	}
}

func TestTextImages(t *testing.T) {
	var plain, verbose bytes.Buffer
	_ = WriteText(&plain, imagesPlan(), TextOptions{})
	_ = WriteText(&verbose, imagesPlan(), TextOptions{Verbose: true})
	want := "" +
		"    + image noble noble.img sha256:3f3f3f3f3f3f…\n" +
		"        used by: tpl-u24 (9001)\n" +
		"    ! image virtio-win: 404\n" +
		"        blocks: tpl-win (9002)\n" +
		"  -/+ tpl-u24 (9001) will be rebuilt and swapped in\n"
	if !strings.HasPrefix(plain.String(), want) {
		t.Errorf("default view starts\n%s\nwant\n%s", plain.String(), want)
	}
	// Unchanged images, an unresolved image no build waits for, and a new
	// image no build uses say nothing by default.
	for _, quiet := range []string{"image win ", "image alma", "image trixie"} {
		if strings.Contains(plain.String(), quiet) {
			t.Errorf("default view shows %q:\n%s", quiet, plain.String())
		}
	}
	for _, line := range []string{
		"    = image win win.iso sha256:616161616161…\n",
		"    ! image alma: dial tcp: i/o timeout\n",
		"    = image trixie trixie.qcow2 sha256:7a7a7a7a7a7a… (new; no build uses it yet)\n",
	} {
		if !strings.Contains(verbose.String(), line) {
			t.Errorf("verbose view lacks %q:\n%s", line, verbose.String())
		}
	}
	// Images come before the templates built from them.
	if strings.Index(verbose.String(), "image trixie") > strings.Index(verbose.String(), "tpl-u24 (9001) will") {
		t.Errorf("images are not listed first:\n%s", verbose.String())
	}
	var colour bytes.Buffer
	_ = WriteText(&colour, imagesPlan(), TextOptions{Color: true})
	if !strings.Contains(colour.String(), green+"  +"+reset+" "+bold+"image noble"+reset) {
		t.Errorf("coloured view: %q", colour.String())
	}
}

func TestShortChecksum(t *testing.T) {
	for in, want := range map[string]string{
		"sha256:" + strings.Repeat("ab", 32): "sha256:abababababab…",
		"sha512:ABCDEF":                      "sha512:ABCDEF…",
		"6462f4e5d35f":                       "6462f4e5d35f…",
		"":                                   "",
	} {
		if got := ShortChecksum(in); got != want {
			t.Errorf("ShortChecksum(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestJSONImagesAlwaysAnArray(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, Plan{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"images": []`) {
		t.Errorf("a plan without images: %s", buf.String())
	}
}
