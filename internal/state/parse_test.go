package state

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

const defaultFile = "../../desired/templates.yaml"

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "35d", want: 35 * Day},
		{in: "4w", want: 4 * Week},
		{in: "1w2d3h4m5s", want: Week + 2*Day + 3*time.Hour + 4*time.Minute + 5*time.Second},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "90m", want: 90 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "0", want: 0},
		{in: "", err: "empty duration"},
		{in: "35", err: `invalid duration "35": missing unit after 35`},
		{in: "d", err: `invalid duration "d": expected a number followed by a unit`},
		{in: "3y", err: `invalid duration "3y": unknown unit "y"`},
		{in: "-1d", err: `duration "-1d" must not have a sign`},
		{in: "+1d", err: `duration "+1d" must not have a sign`},
		{in: "1..5h", err: `invalid duration "1..5h": 1..5 is not a number`},
		{in: "15300w", err: `invalid duration "15300w": too long`},
		{in: "15250w", want: 15250 * Week},
		{in: "15000w15000w", err: `invalid duration "15000w15000w": too long`},
	} {
		got, err := ParseDuration(tc.in)
		if tc.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Errorf("ParseDuration(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestNameMatches(t *testing.T) {
	for _, tc := range []struct {
		name, os, ver string
		ok            bool
	}{
		{"tpl-ubuntu-22.04", "ubuntu", "22.04", true},
		{"tpl-rocky-9", "rocky", "9", true},
		{"tpl-win2022", "windows", "2022", true},
		{"tpl-win-2022", "windows", "2022", true},
		{"tpl-windows2022", "windows", "2022", true},
		{"tpl-ubuntu22.04", "ubuntu", "22.04", true},
		{"tpl-wi2022", "windows", "2022", false},        // shorter than 3 letters
		{"tpl-ubuntu-24.04", "ubuntu", "22.04", false},  // wrong version
		{"tpl-ubuntux-22.04", "ubuntu", "22.04", false}, // not a prefix
		{"tpl-debianbookworm", "debian", "bookworm", false},
		{"tpl-debian-bookworm", "debian", "bookworm", true},
		{"tpl-ubuntu-2.04", "ubuntu", "22.04", false},
	} {
		err := nameMatches(tc.name, tc.os, tc.ver)
		if (err == nil) != tc.ok {
			t.Errorf("nameMatches(%q, %q, %q) = %v, want ok=%t", tc.name, tc.os, tc.ver, err, tc.ok)
		}
	}
}

// TestParseFromReader: without a packer root only path syntax is checked,
// and Path and SHA256 describe the bytes read.
func TestParseFromReader(t *testing.T) {
	data, err := os.ReadFile(defaultFile)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(strings.NewReader(string(data)), "", ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if d.SHA256 != hex.EncodeToString(sum[:]) || d.Path != "" || d.PackerRoot != "" {
		t.Errorf("SHA256 %q Path %q PackerRoot %q", d.SHA256, d.Path, d.PackerRoot)
	}
	var names []string
	for _, tpl := range d.Templates {
		names = append(names, tpl.Name)
	}
	if got := strings.Join(names, " "); got != "tpl-ubuntu-22.04 tpl-ubuntu-24.04 tpl-rocky-9 tpl-win2022" {
		t.Errorf("templates %s", got)
	}
	win, ok := d.Template("tpl-win2022")
	if !ok || win.VMID != 9100 || win.Build != BuildISO || win.Cores != 4 || win.MemoryMiB != 4096 || win.DiskGB != 60 {
		t.Errorf("tpl-win2022 = %+v", win)
	}
	if _, ok := d.Template("tpl-nope"); ok {
		t.Error("Template found a template the file does not name")
	}
	// Problems without a file name start with the position.
	_, err = Parse(strings.NewReader("version: 2\n"), "", ParseOptions{})
	if err == nil || !strings.Contains(err.Error(), "\n1:10: version: unsupported version 2;") {
		t.Errorf("got %v", err)
	}
}

// TestLoadDefaultFile loads the repository's desired file against the fake
// workspace in testdata (workspace.TestLoadDesiredDefault loads it against
// the real packer/).
func TestLoadDefaultFile(t *testing.T) {
	d, err := loadFile(t, defaultFile, testPackerRoot)
	if err != nil {
		t.Fatal(err)
	}
	if d.Path != defaultFile || d.PackerRoot != testPackerRoot || len(d.Templates) != 4 {
		t.Errorf("Path %q PackerRoot %q, %d templates", d.Path, d.PackerRoot, len(d.Templates))
	}

}

func TestParseErrors(t *testing.T) {
	var verr *ValidationError
	_, err := Parse(io.MultiReader(strings.NewReader("version: 1\n"), errReader{}), "x.yaml", ParseOptions{})
	if err == nil || !strings.Contains(err.Error(), "read desired state x.yaml: disk on fire") {
		t.Errorf("reader error: %v", err)
	}

	big := strings.NewReader("# " + strings.Repeat("x", MaxFileSize) + "\n")
	_, err = Parse(big, "big.yaml", ParseOptions{})
	if !errors.As(err, &verr) || err.Error() != "big.yaml:1:1: file is larger than 4194304 bytes" {
		t.Errorf("big file: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestValidationErrorSorts(t *testing.T) {
	e := &ValidationError{Problems: []Problem{
		{File: "f", Line: 3, Col: 1, Field: "b", Msg: "m"},
		{File: "f", Line: 1, Col: 9, Msg: "file-level"},
		{File: "f", Line: 1, Col: 2, Field: "a", Msg: "m"},
	}}
	want := "f:1:2: a: m\nf:1:9: file-level\nf:3:1: b: m"
	if got := e.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if e.Problems[0].Line != 3 {
		t.Error("Error reordered the caller's slice")
	}
}

// TestColumnsCountCharacters: positions count characters, not bytes, both
// where yaml.v3 reports them and where the UTF-8 check does.
func TestColumnsCountCharacters(t *testing.T) {
	_, err := Parse(strings.NewReader("version: 1\ndefaults: {iso_storage: \"éé\", cores: 0}\n"), "x", ParseOptions{})
	if err == nil || !strings.Contains(err.Error(), "x:2:38: defaults.cores:") {
		t.Errorf("got %v", err)
	}
	_, err = Parse(strings.NewReader("version: 1\n# é€\xff\n"), "x", ParseOptions{})
	if err == nil || err.Error() != "x:2:5: file is not valid UTF-8: byte 0xff" {
		t.Errorf("got %v", err)
	}
}

// BenchmarkParse parses a desired file of 200 templates (Packer paths
// checked for syntax only).
func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("version: 1\ndefaults: {node: pve1, max_age: 35d, patch_schedule: \"0 3 1 * *\", timezone: Europe/London}\n")
	sb.WriteString("vmids: {templates: 9000-9199, staging: 9200-9249, previous: 9300-9599}\ntemplates:\n")
	for i := range 200 {
		fmt.Fprintf(&sb, "  - name: tpl-ubuntu-%d.04\n    vmid: %d\n    os: ubuntu\n    os_version: \"%d.04\"\n"+
			"    release: 1.0.%d\n    packer: linux/ubuntu\n    var_file: linux/ubuntu/ubuntu-%d.04.pkrvars.hcl\n", i, 9000+i, i, i, i)
	}
	data := sb.String()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		d, err := Parse(strings.NewReader(data), "bench.yaml", ParseOptions{})
		if err != nil || len(d.Templates) != 200 {
			b.Fatal(err)
		}
	}
}
