package state

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// aliasBomb is the file of issue 11: one anchored template with 100
// unknown keys, then "- *t" 10,000 times (about 42 KB).
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("version: 1\nvmids: {templates: 9000-9199, staging: 9900-9949, previous: 9950-9999}\ntemplates:\n- &t\n")
	for i := range 100 {
		fmt.Fprintf(&b, "  k%d: v\n", i)
	}
	for range 10000 {
		b.WriteString("- *t\n")
	}
	return b.String()
}

// TestAliasBombRefused: the file is refused at the alias that passes the
// limit, with one problem, in a few megabytes (it took 570 MB and printed
// a million lines).
func TestAliasBombRefused(t *testing.T) {
	data := aliasBomb()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Parse(strings.NewReader(data), "bomb.yaml", ParseOptions{})
	runtime.ReadMemStats(&after)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("got %v, want a *ValidationError", err)
	}
	msg := err.Error()
	if lines := strings.Count(msg, "\n") + 1; lines > 60 {
		t.Errorf("%d lines of problems, want at most 60", lines)
	}
	if len(verr.Problems) != 1 || !strings.HasPrefix(msg, "bomb.yaml:") || !strings.Contains(msg, ": aliases expand the file beyond ") {
		t.Errorf("got %d problems:\n%.2000s", len(verr.Problems), msg)
	}
	if pr := verr.Problems[0]; pr.Line < 105 || pr.Col != 3 {
		t.Errorf("reported at %d:%d, want at one of the aliases (line 105 on, column 3)", pr.Line, pr.Col)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d bytes of input, %d bytes allocated", len(data), alloc)
	if alloc > 100<<20 {
		t.Errorf("parsing allocated %d MB, want under 100 MB", alloc>>20)
	}
}

// BenchmarkParseAliasBomb measures the refusal of the alias file (time and
// memory per parse).
func BenchmarkParseAliasBomb(b *testing.B) {
	data := aliasBomb()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(strings.NewReader(data), "bomb.yaml", ParseOptions{}); err == nil {
			b.Fatal("accepted")
		}
	}
}

// TestAliasesWithinLimit: a few aliases, even of a whole mapping, are
// walked as usual; a chain of anchors that doubles at each step is not.
func TestAliasExpansionLimit(t *testing.T) {
	ok := `version: 1
defaults: &d {node: pve1}
vmids: {templates: 9000-9199, staging: 9900-9949, previous: 9950-9999}
templates:
  - &t {name: tpl-ubuntu-22.04, vmid: 9000, os: ubuntu, os_version: "22.04", release: 1.0.0,
        packer: linux/ubuntu, var_file: linux/ubuntu/ubuntu-22.04.pkrvars.hcl, bogus: *d}
  - *t
`
	_, err := Parse(strings.NewReader(ok), "ok.yaml", ParseOptions{})
	if err == nil || !strings.Contains(err.Error(), "templates[1].bogus: unknown key") || strings.Contains(err.Error(), "aliases expand") {
		t.Errorf("small aliases: %v", err)
	}

	var b strings.Builder
	b.WriteString("version: 1\nl0: &a0 [x, x]\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "l%d: &a%d [*a%d, *a%d]\n", i, i, i-1, i-1)
	}
	_, err = Parse(strings.NewReader(b.String()), "laughs.yaml", ParseOptions{})
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 1 || !strings.Contains(err.Error(), "aliases expand the file beyond") {
		t.Fatalf("billion laughs: %v", err)
	}

	_, err = Parse(strings.NewReader("version: 1\nx: &a\n  y: *a\n"), "self.yaml", ParseOptions{})
	if err == nil || !strings.Contains(err.Error(), "self.yaml:3:6: alias *a refers to the value that contains it") {
		t.Errorf("self-reference: %v", err)
	}
}

// TestProblemsCapped: a file with thousands of problems lists the first
// MaxProblems by position and counts the rest in one line.
func TestProblemsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nvmids: {templates: 9000-9199, staging: 9900-9949, previous: 9950-9999}\ntemplates: []\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "unknown%d: x\n", i)
	}
	_, err := Parse(strings.NewReader(b.String()), "many.yaml", ParseOptions{})
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("got %v", err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(verr.Problems) != MaxProblems || verr.Omitted != 1000-MaxProblems || len(lines) != MaxProblems+1 {
		t.Fatalf("%d problems listed, %d omitted, %d lines", len(verr.Problems), verr.Omitted, len(lines))
	}
	if lines[0] != "many.yaml:4:1: unknown0: unknown key" || lines[MaxProblems-1] != "many.yaml:53:1: unknown49: unknown key" {
		t.Errorf("not the first problems by position: %q … %q", lines[0], lines[MaxProblems-1])
	}
	if last := lines[MaxProblems]; last != "and 950 more problems" {
		t.Errorf("last line %q", last)
	}
}

// TestValidationErrorBounded: Error stays bounded for a ValidationError
// built by hand with many long problems.
func TestValidationErrorBounded(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	e := &ValidationError{Omitted: 3}
	for i := range 500 {
		e.Problems = append(e.Problems, Problem{File: "f", Line: i + 1, Col: 1, Field: long, Msg: long})
	}
	msg := e.Error()
	lines := strings.Split(msg, "\n")
	if len(lines) != MaxProblems+1 || lines[MaxProblems] != "and 453 more problems" {
		t.Errorf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
	if len(msg) > (MaxProblems+1)*(2*maxMsgLen*3+32) {
		t.Errorf("Error() is %d bytes", len(msg))
	}
}

// TestLongScalarsShortened: a message quotes at most maxQuoted characters
// of a value, however long.
func TestLongScalarsShortened(t *testing.T) {
	long := strings.Repeat("a", 1<<20)
	for _, file := range []string{
		"version: 1\nvmids: {templates: 9000-9199, staging: 9900-9949, previous: " + long + "}\ntemplates: []\n",
		"version: 1\nvmids: {templates: 9000-9199, staging: 9900-9949, previous: 9950-9999}\ndefaults: {max_age: 1" + long + ", build_timeout: " + long + "1h}\ntemplates: []\n",
		"version: 1\nvmids: {templates: 9000-9199, staging: 9900-9949, previous: 9950-9999}\n? " + long + "\n: 1\ntemplates: []\n",
	} {
		_, err := Parse(strings.NewReader(file), "long.yaml", ParseOptions{})
		if err == nil {
			t.Fatal("accepted")
		}
		if strings.Contains(err.Error(), strings.Repeat("a", maxQuoted)) || !strings.Contains(err.Error(), "a…") {
			t.Errorf("quoted at length: %.300s", err)
		}
	}
}

// TestSecretFileNotEchoed: a desired file that is really an env file or a
// secret (a symlink to it) is refused without a character of the secret.
func TestSecretFileNotEchoed(t *testing.T) {
	const secret = "0b7c9c9e-1111-2222-3333-444455556666"
	for name, file := range map[string]string{
		"secret alone":  secret + "\n",
		"env line":      "PROXMOX_TOKEN_SECRET=" + secret + "\n",
		"env file":      "# templated\nPROXMOX_URL=https://pve:8006\nPROXMOX_TOKEN_ID=t@pve!x\nexport PROXMOX_TOKEN_SECRET=\"" + secret + "\"\n",
		"secret first":  secret + "\nPROXMOX_URL=https://pve:8006\n",
		"quoted":        `"` + secret + `"`,
		"in a list":     "- " + secret + "\n",
		"as a section":  "version: 1\nvmids: " + secret + "\ntemplates: " + secret + "\n",
		"as a version":  "version: " + secret + "\n",
		"as a template": "version: 1\ntemplates: [" + secret + "]\n",
		"tagged":        "!secret " + secret + "\n",
	} {
		_, err := Parse(strings.NewReader(file), "desired.yaml", ParseOptions{})
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		for _, part := range strings.Split(secret, "-") {
			if strings.Contains(err.Error(), part) {
				t.Errorf("%s: error shows part of the secret: %v", name, err)
			}
		}
	}
}
