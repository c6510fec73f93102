package notify

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"templated/internal/redact"
	"templated/internal/state"
)

// Schema names the version of the event's JSON form (docs/notifications.md).
const Schema = "templated.notification/v1"

// Severity says how soon a person should look.
type Severity string

// Severities.
const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

// severities are each kind's default severity.
var severities = map[string]Severity{
	state.NotifyBuildFailed:      Warning, // the current template is untouched
	state.NotifyBuildSucceeded:   Info,
	state.NotifySuspended:        Critical,
	state.NotifyStale:            Warning,
	state.NotifyImageUpdated:     Info,
	state.NotifyLedgerFailed:     Critical,
	state.NotifyWitnessDisagrees: Critical,
	state.NotifyDoctorFailed:     Critical,
	state.NotifyTest:             Info,
}

// Link is a place a person can follow: the runbook, the status page.
type Link struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Event is one thing worth telling people. Its JSON form is the generic
// webhook's body, schema templated.notification/v1. It holds nothing
// secret.
type Event struct {
	Schema string `json:"schema"`
	// ID is unique per event and the same on every retry and every sink:
	// receivers dedupe on it (X-Templated-Delivery).
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Time     time.Time `json:"time"`
	Severity Severity  `json:"severity"`
	// Installation names the templated installation that sent it.
	Installation string   `json:"installation,omitempty"`
	Template     string   `json:"template,omitempty"`
	Nodes        []string `json:"nodes,omitempty"`
	BuildID      string   `json:"build_id,omitempty"`
	Release      string   `json:"release,omitempty"`
	// Reason is a machine word (a plan reason code, a ledger status, a
	// doctor check id); Message one line for people.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message"`
	// Evidence is the build's evidence folder, relative to the evidence
	// root.
	Evidence string `json:"evidence,omitempty"`
	// Recovery marks the first success after a failure (kind
	// build.succeeded).
	Recovery bool `json:"recovery,omitempty"`
	// Repeats counts the identical events held back since this one was
	// last sent.
	Repeats int    `json:"repeats,omitempty"`
	Links   []Link `json:"links,omitempty"`
}

// Bounds of an event's texts.
const (
	maxMessage = 1000
	maxWord    = 128
)

var idSyntax = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// newID returns a random event id: 32 hex digits.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// complete fills what the caller may leave out (schema, id, time,
// severity, installation) and bounds and redacts the texts. It refuses an
// unknown kind or a malformed id.
func complete(e Event, now time.Time, installation string, secrets *redact.Secrets) (Event, error) {
	if !slices.Contains(state.NotifyEvents, e.Kind) && e.Kind != state.NotifyTest {
		return e, fmt.Errorf("unknown event kind %q", clipWord(e.Kind))
	}
	if e.ID == "" {
		e.ID = newID()
	} else if !idSyntax.MatchString(e.ID) {
		return e, fmt.Errorf("event id %q: want 1 to 64 letters, digits, '.', '_' or '-'", clipWord(e.ID))
	}
	e.Schema = Schema
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC().Truncate(time.Millisecond)
	if e.Severity == "" {
		e.Severity = severities[e.Kind]
	}
	if e.Installation == "" {
		e.Installation = installation
	}
	clean := func(s string, max int) string { return redact.Bound(oneLine(secrets.String(s)), max) }
	e.Message = clean(e.Message, maxMessage)
	if e.Message == "" {
		e.Message = title(e)
	}
	for _, f := range []*string{&e.Installation, &e.Template, &e.BuildID, &e.Release, &e.Reason, &e.Evidence} {
		*f = clean(*f, maxWord)
	}
	e.Nodes = slices.Clone(e.Nodes)
	e.Links = slices.Clone(e.Links)
	return e, nil
}

// oneLine keeps the first non-empty line of s, trimmed, without control
// characters.
func oneLine(s string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return strings.Map(func(r rune) rune {
				if unicode.IsControl(r) {
					return ' '
				}
				return r
			}, line)
		}
	}
	return ""
}

func clipWord(s string) string { return redact.Bound(s, 64) }

// title is the event's headline for people.
func title(e Event) string {
	switch e.Kind {
	case state.NotifyBuildFailed:
		return "Build failed: " + e.Template
	case state.NotifyBuildSucceeded:
		if e.Recovery {
			return "Recovered: " + e.Template + " builds again"
		}
		return "Build succeeded: " + e.Template
	case state.NotifySuspended:
		return "Template suspended: " + e.Template
	case state.NotifyStale:
		return "Template stale: " + e.Template
	case state.NotifyImageUpdated:
		return "Image update: " + e.Template
	case state.NotifyLedgerFailed:
		return "Evidence ledger verification failed"
	case state.NotifyWitnessDisagrees:
		return "A witness disagrees with the evidence ledger"
	case state.NotifyDoctorFailed:
		return "templated doctor failed at daemon start"
	case state.NotifyTest:
		return "templated test notification"
	}
	return e.Kind
}

// fact is one detail of an event, shown by the chat formats.
type fact struct{ name, value string }

// facts are the event's details worth showing, in order.
func facts(e Event) []fact {
	var out []fact
	add := func(name, value string) {
		if value != "" {
			out = append(out, fact{name, value})
		}
	}
	add("Template", e.Template)
	add("Release", e.Release)
	add("Build", e.BuildID)
	add("Nodes", strings.Join(e.Nodes, ", "))
	add("Reason", e.Reason)
	add("Evidence", e.Evidence)
	add("Installation", e.Installation)
	if e.Repeats > 0 {
		add("Repeats", fmt.Sprintf("%d identical events held back since it was last sent", e.Repeats))
	}
	return out
}

// TestEvent is the event `templated notify test` sends.
func TestEvent(installation string, now time.Time) Event {
	e, _ := complete(Event{Kind: state.NotifyTest, Reason: "test",
		Message: "This is a test notification from templated; nothing happened."}, now, installation, nil)
	return e
}
