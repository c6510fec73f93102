package daemon

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultAuditInterval is how often the daemon checks the evidence
// ledger's whole history in the background.
const DefaultAuditInterval = 24 * time.Hour

// Auditor checks the evidence ledger's whole history (what `templated
// ledger verify` does) and records the result in the ledger. Open checks
// only the newest part; this catches what lies deeper.
type Auditor interface {
	Audit(ctx context.Context) (AuditResult, error)
}

// AuditResult is one full check of the ledger.
type AuditResult struct {
	// Status is the ledger's: intact, repairable, tampered or unwitnessed.
	Status string `json:"status"`
	// Intact is false when the status calls for a person.
	Intact   bool  `json:"intact"`
	Entries  int64 `json:"entries"`
	Findings int   `json:"findings"`
	// First is the first finding, for /readyz and the log.
	First    string        `json:"first,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	At       time.Time     `json:"at"`
}

// auditLoop runs the auditor at start and then every AuditInterval until
// ctx ends. An audit that cannot run is logged and tried at the next tick.
func (d *Daemon) auditLoop(ctx context.Context) {
	for {
		r, err := d.opts.Auditor.Audit(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			d.log.WithError(err).Error("ledger audit could not run")
			d.met.auditErrors.Inc()
		default:
			d.setAudit(r)
			d.met.observeAudit(r)
			d.announceAudit(ctx, r)
			log := d.log.WithFields(map[string]any{"status": r.Status, "entries": r.Entries, "findings": r.Findings, "took": r.Duration})
			if r.Intact {
				log.Info("ledger audit: whole history verified")
			} else {
				log.WithField("first", r.First).Error("ledger audit failed: the evidence ledger needs a person (templated ledger verify)")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.opts.AuditInterval):
		}
	}
}

func (d *Daemon) setAudit(r AuditResult) {
	d.mu.Lock()
	d.v.audit = &r
	d.mu.Unlock()
}

// auditMetrics are the last audit's figures.
type auditMetrics struct {
	intact   prometheus.Gauge
	last     prometheus.Gauge
	entries  prometheus.Gauge
	findings prometheus.Gauge
	duration prometheus.Gauge
}

func newAuditMetrics() auditMetrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	return auditMetrics{
		intact:   g("templated_ledger_verify_intact", "1 if the last full check of the evidence ledger found it intact, 0 if not (absent before the first)."),
		last:     g("templated_ledger_verify_timestamp_seconds", "When the last full check of the evidence ledger ended (Unix time)."),
		entries:  g("templated_ledger_entries", "Entries in the evidence ledger at the last full check."),
		findings: g("templated_ledger_verify_findings", "Findings of the last full check of the evidence ledger."),
		duration: g("templated_ledger_verify_duration_seconds", "Duration of the last full check of the evidence ledger."),
	}
}

func (a auditMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{a.last, a.entries, a.findings, a.duration}
}

func (m *metrics) observeAudit(r AuditResult) {
	if !m.auditRegistered {
		// intact is registered on the first audit, so that it is absent
		// (not a false 0) before one has run.
		if err := m.reg.Register(m.audit.intact); err == nil {
			m.auditRegistered = true
		}
	}
	v := 0.0
	if r.Intact {
		v = 1
	}
	m.audit.intact.Set(v)
	m.audit.last.Set(float64(r.At.Unix()))
	m.audit.entries.Set(float64(r.Entries))
	m.audit.findings.Set(float64(r.Findings))
	m.audit.duration.Set(r.Duration.Seconds())
}
