package state

import (
	"path"
	"slices"
	"time"
)

// Notification event kinds: what templated tells people about
// (docs/notifications.md). A route lists the kinds it takes.
const (
	NotifyBuildFailed      = "build.failed"
	NotifyBuildSucceeded   = "build.succeeded"
	NotifySuspended        = "template.suspended"
	NotifyStale            = "template.stale"
	NotifyImageUpdated     = "image.updated"
	NotifyLedgerFailed     = "ledger.verify_failed"
	NotifyWitnessDisagrees = "witness.disagrees"
	NotifyDoctorFailed     = "doctor.failed"
	// NotifyTest is the event `templated notify test` sends; every sink
	// takes it, and no route names it.
	NotifyTest = "test"
)

// NotifyEvents are the kinds a route may name, in documentation order.
var NotifyEvents = []string{
	NotifyBuildFailed, NotifyBuildSucceeded, NotifySuspended, NotifyStale,
	NotifyImageUpdated, NotifyLedgerFailed, NotifyWitnessDisagrees, NotifyDoctorFailed,
}

// Sink types.
const (
	SinkWebhook = "webhook" // JSON body, HMAC-SHA256 signature
	SinkSlack   = "slack"   // Slack-compatible incoming webhook
	SinkTeams   = "teams"   // Microsoft Teams (Workflows or a legacy connector)
	SinkNtfy    = "ntfy"    // an ntfy topic
	SinkGotify  = "gotify"  // a Gotify server
)

// SinkTypes are the sink types, in documentation order.
var SinkTypes = []string{SinkWebhook, SinkSlack, SinkTeams, SinkNtfy, SinkGotify}

// Defaults of the notifications section.
const (
	DefaultRepeatInterval = 4 * time.Hour
	DefaultGiveUpAfter    = 24 * time.Hour
)

// Notifications is the desired file's notifications section: where
// templated sends what it tells people, and which events go where. It
// holds no secret, only the names secrets are looked up by.
type Notifications struct {
	Sinks []NotifySink
	// Routes are the file's routes; a file without routes gets one per
	// sink, taking DefaultRouteEvents.
	Routes []NotifyRoute
	// RepeatInterval is how long an identical event is held back after it
	// was sent (default DefaultRepeatInterval).
	RepeatInterval time.Duration
	// GiveUpAfter is how long a delivery is retried before it is given up
	// (default DefaultGiveUpAfter).
	GiveUpAfter time.Duration
	// StatusURL is the status page's address people can reach, and
	// RunbookURL where docs/ is published; both go into events as links
	// ("" for none).
	StatusURL  string
	RunbookURL string
	// Line is where the section starts in the desired file.
	Line int
}

// NotifySink is one place notifications go.
type NotifySink struct {
	Name string // ops-slack
	Type string // one of SinkTypes
	// URL is where to send when the address is not secret (webhook, ntfy,
	// gotify's server); URLSecret names the secret holding the address
	// otherwise (slack and teams always). One of the two is set.
	URL       string
	URLSecret string
	// HMACSecret names the webhook's signing key; TokenSecret names the
	// bearer token of an ntfy topic or the application token of gotify.
	HMACSecret  string
	TokenSecret string
	Line        int
}

// Secrets are the names of the secrets s needs, in the order URL, HMAC,
// token (unset ones left out).
func (s NotifySink) Secrets() []string {
	var out []string
	for _, n := range []string{s.URLSecret, s.HMACSecret, s.TokenSecret} {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// NotifyRoute sends the events it takes to one sink.
type NotifyRoute struct {
	Sink string
	// Events are the kinds the route takes; nil means every kind but
	// build.succeeded (DefaultRouteEvents).
	Events []string
	// Templates are path.Match globs over template names; nil means every
	// template. Events that name no template (ledger, witness, doctor)
	// pass whatever the route's templates.
	Templates []string
	Line      int
}

// DefaultRouteEvents are the kinds a route without events takes: all but
// build.succeeded, which is opt-in (a recovery still reaches the routes
// that take build.failed).
var DefaultRouteEvents = slices.DeleteFunc(slices.Clone(NotifyEvents), func(k string) bool { return k == NotifyBuildSucceeded })

// Takes reports whether r takes events of kind for template ("" for an
// event that names none).
func (r NotifyRoute) Takes(kind, template string) bool {
	events := r.Events
	if events == nil {
		events = DefaultRouteEvents
	}
	if !slices.Contains(events, kind) {
		return false
	}
	if template == "" || r.Templates == nil {
		return true
	}
	return slices.ContainsFunc(r.Templates, func(g string) bool {
		ok, _ := path.Match(g, template)
		return ok
	})
}

// Sink returns the sink named name, or false.
func (n *Notifications) Sink(name string) (NotifySink, bool) {
	for _, s := range n.Sinks {
		if s.Name == name {
			return s, true
		}
	}
	return NotifySink{}, false
}
