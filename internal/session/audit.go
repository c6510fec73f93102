package session

import (
	"context"
	"errors"
	"time"

	"templated/internal/daemon"
	"templated/internal/ledger"
)

var _ daemon.Auditor = (*DaemonReconciler)(nil)

// Audit implements daemon.Auditor: it verifies the ledger's whole history
// (as `templated ledger verify` does, evidence included, against the
// checkpoint this host verified last) alongside the runs, and records the
// result in the ledger.
func (r *DaemonReconciler) Audit(ctx context.Context) (daemon.AuditResult, error) {
	led := r.Session.Ledger()
	if led == nil {
		return daemon.AuditResult{}, errors.New("ledger not open")
	}
	start := time.Now()
	rep, err := led.VerifyHistory(ctx, ledger.VerifyOptions{})
	if err != nil {
		return daemon.AuditResult{}, err
	}
	took := time.Since(start)
	entry := ledger.VerifyEntry(rep, took)
	if _, err := led.Append(ctx, entry); err != nil {
		return daemon.AuditResult{}, err
	}
	return daemon.AuditResult{Status: string(rep.Status()), Intact: rep.Status() == ledger.StatusIntact, Entries: rep.Entries,
		Findings: len(rep.Findings), First: entry.Detail["first"], Duration: took, At: time.Now()}, nil
}
