package daemon

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestTableShowsImages: the table gains a BUILT FROM column only when a
// template was built from declared images.
func TestTableShowsImages(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	st := Status{Templates: []TemplateStatus{
		{Name: "tpl-ubuntu-24.04", VMID: 9001, Release: "1.0.0", BuiltAt: now.Add(-2 * time.Hour), LastResult: "success",
			Images: []string{"ubuntu-24.04-cloud@3f1c2e44a1b2"}},
		{Name: "tpl-legacy", VMID: 9005, Release: "1.0.0", LastResult: "none"},
	}}
	var b bytes.Buffer
	if err := st.WriteTable(&b, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], "BUILT FROM") || !strings.HasSuffix(lines[1], "ubuntu-24.04-cloud@3f1c2e44a1b2") || !strings.HasSuffix(lines[2], " -") {
		t.Fatalf("table:\n%s", b.String())
	}
	st.Templates = st.Templates[1:]
	b.Reset()
	if err := st.WriteTable(&b, now); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "BUILT FROM") {
		t.Fatalf("a fleet without images shows the column:\n%s", b.String())
	}
}

// TestTableShowsClones: a CLONES column "current/outdated" appears only
// when a template has clones; a template without shows "-".
func TestTableShowsClones(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	st := Status{Templates: []TemplateStatus{
		{Name: "tpl-ubuntu-22.04", VMID: 9000, Release: "1.0.0", BuiltAt: now.Add(-2 * time.Hour), LastResult: "success",
			ClonesCurrent: 12, ClonesOutdated: 3, ClonesOutdatedByAge: map[string]int{"lt_30d": 0, "30d_90d": 3, "90d_365d": 0, "gt_365d": 0}},
		{Name: "tpl-rocky-9", VMID: 9002, Release: "1.0.0", LastResult: "none", ClonesOutdatedByAge: map[string]int{"lt_30d": 0}},
	}}
	var b bytes.Buffer
	if err := st.WriteTable(&b, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], "DRIFT  CLONES") || !strings.HasSuffix(lines[1], " 12/3") || !strings.HasSuffix(lines[2], " -") {
		t.Fatalf("table:\n%s", b.String())
	}
	st.Templates[0].ClonesCurrent, st.Templates[0].ClonesOutdated = 0, 0
	b.Reset()
	if err := st.WriteTable(&b, now); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "CLONES") {
		t.Fatalf("a fleet without clones shows the column:\n%s", b.String())
	}
}
