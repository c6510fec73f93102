package notify

import "context"

// Outcome is how a delivery ended.
type Outcome string

// Outcomes.
const (
	Delivered Outcome = "delivered"
	GaveUp    Outcome = "gave-up"
)

// Ledger kinds for the deliveries (ledger.Kind accepts any lowercase
// dotted name).
const (
	KindDelivered = "notify.delivered"
	KindGaveUp    = "notify.gave-up"
)

// Delivery is what the Recorder is told of one delivery that ended. It
// holds no secret: Error names the sink and the HTTP status, never its
// URL.
type Delivery struct {
	EventID  string
	Kind     string // the event's kind
	Template string
	BuildID  string
	Sink     string
	SinkType string
	Attempts int
	Outcome  Outcome
	// Status is the HTTP status of the last failed attempt (0: none
	// failed, or no response).
	Status int
	// Error is why it was given up, or the last failed attempt's error
	// before it was delivered ("" when the first attempt succeeded).
	Error string
}

// LedgerKind is the ledger kind d is recorded as.
func (d Delivery) LedgerKind() string {
	if d.Outcome == Delivered {
		return KindDelivered
	}
	return KindGaveUp
}

// Recorder records deliveries (session writes them to the ledger).
type Recorder interface {
	RecordDelivery(ctx context.Context, d Delivery) error
}
