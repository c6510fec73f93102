package daemon

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gauge reads a metric without labels from reg; ok is false when it is
// not exported.
func gauge(t *testing.T, reg *prometheus.Registry, name string) (v float64, ok bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// fakeAuditor answers with the results it is given, in turn (the last
// one from then on).
type fakeAuditor struct {
	mu      sync.Mutex
	results []AuditResult
	calls   int
}

func (a *fakeAuditor) Audit(context.Context) (AuditResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.results[min(a.calls, len(a.results)-1)]
	a.calls++
	r.At = time.Now()
	return r, nil
}

// TestLedgerAuditInBackground: the daemon checks the ledger's whole
// history at start and on its interval; a failed check makes /readyz say
// so, shows in /status and in /metrics, and a later intact one clears it.
func TestLedgerAuditInBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		aud := &fakeAuditor{results: []AuditResult{
			{Status: "tampered", Findings: 2, Entries: 40, First: "entry 12: hash does not match the checkpoint"},
			{Status: "intact", Intact: true, Entries: 41},
		}}
		reg := prometheus.NewRegistry()
		h := newHarness(t, func(o *Options) {
			o.Auditor, o.AuditInterval, o.Registry = aud, 6*time.Hour, reg
		}, tplA)
		h.start()
		synctest.Wait()
		ok, why := h.d.ready(time.Now())
		if ok || !strings.Contains(why, "tampered") || !strings.Contains(why, "entry 12") {
			t.Fatalf("ready %v (%s) after a failed audit", ok, why)
		}
		if a := h.d.Status().LedgerAudit; a == nil || a.Status != "tampered" || a.Findings != 2 {
			t.Fatalf("status audit %+v", a)
		}
		if v, ok := gauge(t, reg, "templated_ledger_verify_intact"); !ok || v != 0 {
			t.Errorf("templated_ledger_verify_intact = %v (%v) after a failed audit", v, ok)
		}
		time.Sleep(6*time.Hour + time.Second)
		synctest.Wait()
		if ok, why := h.d.ready(time.Now()); !ok {
			t.Fatalf("not ready after an intact audit: %s", why)
		}
		if v, ok := gauge(t, reg, "templated_ledger_verify_intact"); !ok || v != 1 {
			t.Errorf("templated_ledger_verify_intact = %v (%v) after an intact audit", v, ok)
		}
		if v, _ := gauge(t, reg, "templated_ledger_entries"); v != 41 {
			t.Errorf("templated_ledger_entries = %v", v)
		}
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}
		if aud.calls != 2 {
			t.Errorf("%d audits in 6 hours with a 6-hour interval, want 2", aud.calls)
		}
	})
}
