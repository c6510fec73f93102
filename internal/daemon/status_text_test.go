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
