package daemon

import (
	"bytes"
	"regexp"
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

// TestTableShowsReplicas: with replicas, a NODE column, and each replica
// on its own line under its template with its node, the release it holds
// and what the plan does with it.
func TestTableShowsReplicas(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	st := Status{Templates: []TemplateStatus{
		{Name: "tpl-ubuntu-22.04", VMID: 9000, Node: "pve1", Release: "1.2.0", BuiltAt: now.Add(-time.Hour), LastResult: "success",
			Replicas: []ReplicaStatus{
				{Name: "tpl-ubuntu-22.04-pve2", Node: "pve2", VMID: 9200, Action: "keep", BuiltRelease: "1.2.0", BuiltAt: now.Add(-time.Hour)},
				{Name: "tpl-ubuntu-22.04-pve3", Node: "pve3", VMID: 9400, Action: "blocked", Reason: "node pve3 does not answer; more",
					BuiltRelease: "1.1.0", BuiltAt: now.Add(-48 * time.Hour)}}},
		{Name: "tpl-rocky-9", VMID: 9002, Node: "pve1", Release: "1.0.0", LastResult: "none"},
	}}
	var b bytes.Buffer
	if err := st.WriteTable(&b, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{`^TEMPLATE +VMID +NODE +RELEASE`, `^tpl-ubuntu-22.04 +9000 +pve1 +1.2.0 +1h0m `,
		`^  tpl-ubuntu-22.04-pve2 +9200 +pve2 +1.2.0 +1h0m +copy +- +-$`,
		`^  tpl-ubuntu-22.04-pve3 +9400 +pve3 +1.1.0 +2d0h +copy +- +blocked: node pve3 does not answer$`,
		`^tpl-rocky-9 +9002 +pve1 +1.0.0 `}
	if len(lines) != len(want) {
		t.Fatalf("table:\n%s", b.String())
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("line %d %q does not match %s", i, lines[i], re)
		}
	}
}

// TestTableReleaseBuiltAndDesired: the RELEASE column says what is at the
// VMID, and the desired release after an arrow while they differ (a
// rebuild pending or failed).
func TestTableReleaseBuiltAndDesired(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	st := Status{Templates: []TemplateStatus{
		{Name: "tpl-failed", VMID: 9000, Release: "1.1.0", BuiltRelease: "1.0.0", BuiltAt: now.Add(-time.Hour), LastResult: "failure"},
		{Name: "tpl-current", VMID: 9001, Release: "2.0.0", BuiltRelease: "2.0.0", BuiltAt: now.Add(-time.Hour), LastResult: "success"},
		{Name: "tpl-missing", VMID: 9002, Release: "3.0.0", LastResult: "none"},
	}}
	var b bytes.Buffer
	if err := st.WriteTable(&b, now); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`(?m)^tpl-failed +9000 +1\.0\.0→1\.1\.0 +1h0m `, `(?m)^tpl-current +9001 +2\.0\.0 +1h0m `, `(?m)^tpl-missing +9002 +3\.0\.0 +- `} {
		if !regexp.MustCompile(re).MatchString(b.String()) {
			t.Errorf("table does not match %s:\n%s", re, b.String())
		}
	}
}
