package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

var marks = map[Status]string{Pass: "✓", Warn: "!", Fail: "✗"}

// TextOptions tune WriteText.
type TextOptions struct {
	// Verbose also prints the details of passing checks.
	Verbose bool
}

// WriteText prints one line per check (✓ pass, ! warn, ✗ fail), the fix
// and details of warnings and failures indented below, and a summary.
func WriteText(w io.Writer, rs []Result, o TextOptions) error {
	var b strings.Builder
	counts := map[Status]int{}
	for _, r := range rs {
		counts[r.Status]++
		fmt.Fprintf(&b, "%s %s: %s\n", marks[r.Status], r.Name, r.Message)
		if r.Status == Pass && !o.Verbose {
			continue
		}
		for _, d := range r.Details {
			fmt.Fprintf(&b, "    - %s\n", d)
		}
		if r.Fix != "" {
			fmt.Fprintf(&b, "    fix: %s\n", r.Fix)
		}
	}
	fmt.Fprintf(&b, "\n%d passed, %d warnings, %d failed\n", counts[Pass], counts[Warn], counts[Fail])
	_, err := io.WriteString(w, b.String())
	return err
}

// Report is doctor's JSON output (docs/doctor-json.md).
type Report struct {
	FormatVersion int      `json:"format_version"`
	OK            bool     `json:"ok"`
	Summary       Summary  `json:"summary"`
	Checks        []Result `json:"checks"`
}

// Summary counts the results by status.
type Summary struct {
	Pass int `json:"pass"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
}

// WriteJSON prints the results as a Report.
func WriteJSON(w io.Writer, rs []Result) error {
	r := Report{FormatVersion: 1, OK: !Failed(rs), Checks: rs}
	if r.Checks == nil {
		r.Checks = []Result{}
	}
	for _, x := range rs {
		switch x.Status {
		case Pass:
			r.Summary.Pass++
		case Warn:
			r.Summary.Warn++
		case Fail:
			r.Summary.Fail++
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
