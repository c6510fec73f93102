package ledger

import (
	"encoding/json"
	"fmt"
	"io"
)

// Severity classifies a finding.
type Severity string

const (
	// SeverityTamper is damage no crash can cause: verify exits 1 and Open
	// refuses to write.
	SeverityTamper Severity = "tamper"
	// SeverityCrash is damage a crash can leave and Repair fixes: exit 2.
	SeverityCrash Severity = "crash"
	// SeverityWarning is worth a look but does not fail verification.
	SeverityWarning Severity = "warning"
)

// Status is the verdict of a verification.
type Status string

const (
	StatusIntact     Status = "intact"
	StatusRepairable Status = "repairable"
	StatusTampered   Status = "tampered"
)

// Finding is one problem found by Verify, with where it was found.
type Finding struct {
	Severity Severity `json:"severity"`
	Where    string   `json:"where"`
	Message  string   `json:"message"`
}

func (f Finding) String() string { return fmt.Sprintf("%s: %s: %s", f.Severity, f.Where, f.Message) }

// Report is what Verify found.
type Report struct {
	Dir         string `json:"dir"`
	Origin      string `json:"origin,omitempty"`
	Entries     int64  `json:"entries"`
	Sealed      int64  `json:"sealed"` // size of the latest valid checkpoint
	Checkpoints int    `json:"checkpoints"`
	Evidence    int    `json:"evidence_files"`
	Envelopes   int    `json:"dsse_envelopes"`
	Trusted     int    `json:"trusted_checkpoints"`
	// Cosignatures counts witnesses with a valid cosignature on the newest
	// checkpoint, when witnesses were checked (WitnessCheck).
	Cosignatures      int       `json:"witness_cosignatures,omitempty"`
	WitnessesRequired int       `json:"witnesses_required,omitempty"`
	Findings          []Finding `json:"findings"`
}

func (r *Report) add(sev Severity, where, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Severity: sev, Where: where, Message: fmt.Sprintf(format, args...)})
}

// Status is tampered if any finding is, else unwitnessed if a witness
// requirement failed, else repairable if any is crash damage, else intact.
func (r *Report) Status() Status {
	st := StatusIntact
	for _, f := range r.Findings {
		switch f.Severity {
		case SeverityTamper:
			return StatusTampered
		case SeverityUnwitnessed:
			st = StatusUnwitnessed
		case SeverityCrash:
			if st == StatusIntact {
				st = StatusRepairable
			}
		}
	}
	return st
}

// ExitCode maps the status to templated ledger verify's exit code.
func (r *Report) ExitCode() int {
	switch r.Status() {
	case StatusTampered:
		return 1
	case StatusRepairable:
		return 2
	case StatusUnwitnessed:
		return 4
	}
	return 0
}

func (r *Report) first(sev Severity) string {
	for _, f := range r.Findings {
		if f.Severity == sev {
			return f.Where + ": " + f.Message
		}
	}
	return ""
}

// WriteText prints the report for a person.
func (r *Report) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "ledger %s (origin %s)\n  entries: %d, sealed by checkpoint: %d, checkpoints checked: %d, trusted checkpoints: %d\n  evidence files checked: %d, DSSE envelopes checked: %d\n",
		r.Dir, r.Origin, r.Entries, r.Sealed, r.Checkpoints, r.Trusted, r.Evidence, r.Envelopes)
	if err != nil {
		return err
	}
	if r.WitnessesRequired > 0 || r.Cosignatures > 0 {
		if _, err := fmt.Fprintf(w, "  witness cosignatures on the newest checkpoint: %d (required: %d)\n", r.Cosignatures, r.WitnessesRequired); err != nil {
			return err
		}
	}
	for _, f := range r.Findings {
		if _, err := fmt.Fprintf(w, "  %s\n", f); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(w, "status: %s\n", r.Status())
	return err
}

// WriteJSON prints the report as one JSON object with its status.
func (r *Report) WriteJSON(w io.Writer) error {
	out := struct {
		Status Status `json:"status"`
		*Report
	}{r.Status(), r}
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
