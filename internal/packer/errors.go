package packer

import (
	"fmt"
	"strings"
	"time"
)

// BuildError is a packer build that did not succeed: it exited non-zero, ran
// past its timeout, or was canceled. The fields hold redacted text only.
type BuildError struct {
	Name     string        // Build.Name
	ExitCode int           // Packer's exit code; 128+signal when killed by a signal
	Tail     string        // the last lines of readable output (see Result.Tail)
	Errors   []string      // the ui,error messages Packer printed, oldest first (bounded)
	TimedOut bool          // Build.Timeout expired
	Timeout  time.Duration // Build.Timeout, for the message
	Canceled bool          // the caller's context ended
	Killed   bool          // the group was still running after KillGrace and got SIGKILL
	Err      error         // the cause: context.DeadlineExceeded, the context's cause, or *exec.ExitError
}

func (e *BuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "packer build %s: ", e.Name)
	switch {
	case e.TimedOut:
		fmt.Fprintf(&b, "timed out after %s", e.Timeout)
	case e.Canceled:
		b.WriteString("canceled")
	default:
		fmt.Fprintf(&b, "exit code %d", e.ExitCode)
	}
	if e.Killed {
		b.WriteString(" (killed after the grace period)")
	}
	if msg := e.summary(); msg != "" {
		b.WriteString(msg)
	}
	return b.String()
}

func (e *BuildError) Unwrap() error { return e.Err }

// summary picks what the message shows: Packer's own error lines when it
// printed any, otherwise the last lines of output.
func (e *BuildError) summary() string {
	const maxLen = 1024
	var s, label string
	if len(e.Errors) > 0 && !e.TimedOut && !e.Canceled {
		s, label = strings.Join(lastN(e.Errors, 3), "; "), ": "
	} else {
		s, label = strings.Join(lastN(nonEmptyLines(e.Tail), 3), " | "), "; last output: "
	}
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return ""
	}
	if len(s) > maxLen {
		s = "..." + s[len(s)-maxLen:]
	}
	return label + s
}

func nonEmptyLines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func lastN(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
