package reconcile

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"templated/internal/journal"
	"templated/internal/plan"
)

func TestReportWriteText(t *testing.T) {
	long := strings.Repeat("é", 300) // 600 bytes: cut at a rune boundary
	r := Report{Results: []Result{
		{Template: "tpl-a", Action: plan.Create, Duration: 90 * time.Second, SwapWindow: 120 * time.Millisecond},
		{Template: "tpl-b", Action: plan.Rebuild, Step: journal.StepVerifying, Duration: 3 * time.Second, Err: errors.New(long)},
	}}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 || lines[0] != "  ✓ tpl-a: create in 1m30s (reserved VMID empty for 120ms)" {
		t.Fatalf("got:\n%s", b.String())
	}
	if !strings.HasPrefix(lines[1], "  ✗ tpl-b: rebuild failed at verifying after 3s: éé") ||
		!strings.HasSuffix(lines[1], "… (full error in the log and the build's evidence)") || !utf8Valid(lines[1]) ||
		len(lines[1]) > 520 {
		t.Errorf("failure line (%d bytes): %s", len(lines[1]), lines[1])
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
