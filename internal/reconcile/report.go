package reconcile

import (
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// WriteText prints one line per build for people: ✓ with its time and how
// long the reserved VMID stood empty, or ✗ with the step it failed at and
// the start of its error (the whole error is in the log and the evidence).
func (r Report) WriteText(w io.Writer) error {
	for _, x := range r.Results {
		var err error
		if x.Err != nil {
			_, err = fmt.Fprintf(w, "  ✗ %s: %s failed at %s after %s: %s\n", x.Template, x.Action, x.Step, x.Duration.Round(time.Second), brief(x.Err.Error(), 400))
		} else {
			_, err = fmt.Fprintf(w, "  ✓ %s: %s in %s (reserved VMID empty for %s)\n", x.Template, x.Action, x.Duration.Round(time.Second), x.SwapWindow.Round(time.Millisecond))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// brief shortens s to about n bytes for a summary line.
func brief(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "… (full error in the log and the build's evidence)"
}
