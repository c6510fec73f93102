package daemon

import "context"

// Ledger is what the daemon writes to the evidence ledger on its own
// account; the runs themselves are recorded by the Reconciler.
type Ledger interface {
	// RecordRejected records a desired file that failed validation and was
	// not put in force.
	RecordRejected(ctx context.Context, path, sha256 string, err error) error
	// RecordSuspended records that a template was suspended.
	RecordSuspended(ctx context.Context, template, reason string) error
	// RecordReleased records that a suspension ended and why.
	RecordReleased(ctx context.Context, template, why string) error
}

// nopLedger records nothing.
type nopLedger struct{}

func (nopLedger) RecordRejected(context.Context, string, string, error) error { return nil }
func (nopLedger) RecordSuspended(context.Context, string, string) error       { return nil }
func (nopLedger) RecordReleased(context.Context, string, string) error        { return nil }
