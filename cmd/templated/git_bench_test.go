package main

// BenchmarkDaemonWebhookToDecision: the time from a push webhook's delivery
// to the decision entry in the ledger, with the daemon following a git
// remote on loopback (fetch, checks, checkout, reload and plan; a new
// revision is not debounced):
//
//	go test -run '^$' -bench BenchmarkDaemonWebhookToDecision -benchtime 5x ./cmd/templated/

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"templated/internal/daemon"
	"templated/internal/ledger"
)

func BenchmarkDaemonWebhookToDecision(b *testing.B) {
	w := newGitWorld(b)
	p := w.start("--interval", "1h", "--git-interval", "1h", "--debounce", daemon.DefaultDebounce.String())
	p.waitFor(time.Minute, "the first run", func() bool { return revision(p) != "" && p.idleAfter(time.Time{}) })
	decisions := func() []ledger.Entry { return entriesOf(w.envValue("TEMPLATED_EVIDENCE_DIR"), ledger.KindDecision) }
	var total, worst time.Duration
	n := 0
	for b.Loop() {
		b.StopTimer()
		c := w.remote.commit("desired/templates.yaml", fmt.Sprintf("bench %d", n))
		before := len(decisions())
		b.StartTimer()
		sent := time.Now()
		if code := hook(b, p, hookSecret); code != http.StatusAccepted {
			b.Fatalf("webhook %d", code)
		}
		var ds []ledger.Entry
		p.waitFor(time.Minute, "the decision", func() bool { ds = decisions(); return len(ds) > before })
		at, err := time.Parse(time.RFC3339Nano, ds[before].TS)
		if err != nil {
			b.Fatal(err)
		}
		if g := ds[before].Git; g == nil || g.Commit != c {
			b.Fatalf("decision names %+v, want %s", g, c)
		}
		lat := at.Sub(sent)
		total += lat
		worst = max(worst, lat)
		n++
		p.waitFor(time.Minute, "an idle daemon", func() bool { return p.status().State == "idle" })
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(n), "ms-to-decision")
	b.ReportMetric(float64(worst.Milliseconds()), "max-ms-to-decision")
}
