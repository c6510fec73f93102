package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"templated/internal/state"
)

// deliveredIDs counts the deliveries a receiver got per event id.
func deliveredIDs(t *testing.T, hits []hit) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, h := range hits {
		var e Event
		if err := json.Unmarshal(h.Body, &e); err != nil {
			t.Fatal(err)
		}
		out[e.ID]++
	}
	return out
}

func TestRetriesThenSuccess(t *testing.T) {
	r := newReceiver(t)
	calls := 0
	r.answer(func(hit) (int, http.Header, string) {
		calls++
		switch calls {
		case 1:
			return http.StatusServiceUnavailable, nil, "busy"
		case 2:
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"600"}}, "slow down"
		}
		return http.StatusNoContent, nil, ""
	})
	h := newHarness(t, webhookOnly(r.url("/hook")), testSecrets(nil), nil)
	h.notify(failed("tpl-a", "b1"))
	h.flush() // 503
	h.flush() // backing off: no attempt
	if n := len(r.got()); n != 1 {
		t.Fatalf("%d attempts before the backoff ended, want 1", n)
	}
	h.clock.Advance(5 * time.Second) // the first backoff (Rand 1: the full 5s)
	h.flush()                        // 429, Retry-After 600s
	h.clock.Advance(time.Minute)     // the backoff's Max, but not what the receiver asked for
	h.flush()
	if n := len(r.got()); n != 2 {
		t.Fatalf("%d attempts, want 2 (Retry-After not honoured?)", n)
	}
	h.clock.Advance(9 * time.Minute)
	h.flush()
	hits := r.got()
	if len(hits) != 3 || h.d.Pending() != 0 {
		t.Fatalf("%d attempts, %d pending", len(hits), h.d.Pending())
	}
	if ids := deliveredIDs(t, hits); len(ids) != 1 {
		t.Errorf("retries changed the event id: %v", ids)
	}
	if hits[0].Header.Get(HeaderTimestamp) == hits[2].Header.Get(HeaderTimestamp) {
		t.Error("each attempt is signed with its own timestamp")
	}
	ds := h.rec.all()
	if len(ds) != 1 || ds[0].Outcome != Delivered || ds[0].Attempts != 3 || ds[0].Sink != "hook" || ds[0].SinkType != "webhook" ||
		ds[0].Template != "tpl-a" || ds[0].BuildID != "b1" || ds[0].Status != 429 || !strings.Contains(ds[0].Error, "HTTP 429") ||
		ds[0].LedgerKind() != KindDelivered {
		t.Errorf("deliveries %+v", ds)
	}
}

// TestReceiverDownForAMinute: deliveries made while the receiver refuses
// connections all arrive, each once, when it is back.
func TestReceiverDownForAMinute(t *testing.T) {
	r := newReceiver(t)
	h := newHarness(t, webhookOnly(r.url("/hook")), testSecrets(nil), nil)
	r.down()
	for i := range 6 {
		h.notify(failed("tpl-"+string(rune('a'+i)), "b"))
		h.flush()
		h.clock.Advance(10 * time.Second)
	}
	if h.d.Pending() != 6 {
		t.Fatalf("%d pending, want 6", h.d.Pending())
	}
	r.up()
	h.clock.Advance(time.Minute)
	h.flush()
	ids := deliveredIDs(t, r.got())
	if len(ids) != 6 || h.d.Pending() != 0 {
		t.Fatalf("delivered %v, %d pending", ids, h.d.Pending())
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	if !strings.Contains(h.logText(), "will retry") {
		t.Error("failed attempts are not logged")
	}
}

// TestRestartDeliversPendingOnce: what one Dispatcher queued while the
// receiver was down, the next one over the same directory delivers, each
// once; and a third finds nothing left.
func TestRestartDeliversPendingOnce(t *testing.T) {
	r := newReceiver(t)
	n := webhookOnly(r.url("/hook"))
	h := newHarness(t, n, testSecrets(nil), nil)
	r.down()
	for _, tpl := range []string{"tpl-a", "tpl-b", "tpl-c"} {
		h.notify(failed(tpl, "b1"))
	}
	h.flush()
	if _, err := New(n, testSecrets(nil), h.opts); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("a second Dispatcher on the same directory: %v", err)
	}
	if err := h.d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.d.Notify(context.Background(), failed("tpl-d", "b1")); err != ErrClosed {
		t.Errorf("Notify after Close: %v", err)
	}

	r.up()
	h.open(n, testSecrets(nil))
	if h.d.Pending() != 3 {
		t.Fatalf("%d pending after the restart, want 3", h.d.Pending())
	}
	h.flush()                        // the two never tried
	h.clock.Advance(5 * time.Second) // the one tried waits for its backoff
	h.flush()
	ids := deliveredIDs(t, r.got())
	if len(ids) != 3 {
		t.Fatalf("delivered %v", ids)
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	h.d.Close()
	h.open(n, testSecrets(nil))
	h.flush()
	if h.d.Pending() != 0 || len(r.got()) != 3 {
		t.Errorf("after a second restart: %d pending, %d deliveries", h.d.Pending(), len(r.got()))
	}
	// The same failure again: held back across both restarts.
	h.notify(failed("tpl-a", "b2"))
	if h.d.Pending() != 0 {
		t.Error("a restart forgot the grouping")
	}
}

func TestQueueBound(t *testing.T) {
	r := newReceiver(t)
	r.down()
	h := newHarness(t, webhookOnly(r.url("/hook")), testSecrets(nil), func(o *Options) { o.MaxPending = 5 })
	var ids []string
	for i := range 8 {
		e := failed("tpl-"+string(rune('a'+i)), "b1")
		e.ID = "event-" + string(rune('a'+i))
		ids = append(ids, e.ID)
		h.notify(e)
	}
	if h.d.Pending() != 5 {
		t.Errorf("%d pending, want 5", h.d.Pending())
	}
	ds := h.rec.all()
	if len(ds) != 3 {
		t.Fatalf("deliveries %+v", ds)
	}
	for i, d := range ds {
		if d.EventID != ids[i] || d.Outcome != GaveUp || d.Error != "queue full: 5 deliveries pending" || d.LedgerKind() != KindGaveUp {
			t.Errorf("gave up %+v, want the oldest (%s)", d, ids[i])
		}
	}
	files, _ := os.ReadDir(filepath.Join(h.dir, "pending"))
	if len(files) != 5 {
		t.Errorf("%d files pending", len(files))
	}
}

func TestPermanentErrorGivesUp(t *testing.T) {
	r := newReceiver(t)
	r.answer(func(hit) (int, http.Header, string) { return http.StatusGone, nil, "this hook was deleted" })
	h := newHarness(t, webhookOnly(r.url("/hook")), testSecrets(nil), nil)
	h.notify(failed("tpl-a", "b1"))
	h.notify(failed("tpl-b", "b1"))
	h.flush()
	ds := h.rec.all()
	if len(ds) != 2 || h.d.Pending() != 0 || len(r.got()) != 2 {
		t.Fatalf("deliveries %+v, pending %d, attempts %d", ds, h.d.Pending(), len(r.got()))
	}
	if d := ds[0]; d.Outcome != GaveUp || d.Attempts != 1 || d.Status != http.StatusGone || d.Error != "deliver to hook: HTTP 410: this hook was deleted" {
		t.Errorf("gave up %+v", d)
	}
	if !strings.Contains(h.logText(), "given up") {
		t.Error("give-up not logged")
	}
}

func TestGiveUpAfter(t *testing.T) {
	r := newReceiver(t)
	r.down()
	n := webhookOnly(r.url("/hook"))
	n.GiveUpAfter = time.Hour
	h := newHarness(t, n, testSecrets(nil), nil)
	h.notify(failed("tpl-a", "b1"))
	for range 62 {
		h.flush()
		h.clock.Advance(time.Minute)
	}
	ds := h.rec.all()
	if len(ds) != 1 || ds[0].Outcome != GaveUp || !strings.HasPrefix(ds[0].Error, "not delivered within 1h0m0s (") ||
		!strings.Contains(ds[0].Error, "connection refused") || h.d.Pending() != 0 {
		t.Errorf("deliveries %+v, %d pending", ds, h.d.Pending())
	}
	// A sink no longer configured: its deliveries wait, then are given up.
	h.notify(failed("tpl-b", "b1"))
	if err := h.d.Reconfigure(nil, nil); err != nil {
		t.Fatal(err)
	}
	r.up()
	h.flush()
	if len(r.got()) != 0 || h.d.Pending() != 1 {
		t.Fatalf("delivered to a sink no longer configured")
	}
	h.clock.Advance(state.DefaultGiveUpAfter)
	h.flush()
	if ds := h.rec.all(); len(ds) != 2 || !strings.Contains(ds[1].Error, "no longer configured") {
		t.Errorf("deliveries %+v", ds)
	}
}

// TestRun: Run delivers in the background, with the real clock, and
// returns when its context ends.
func TestRun(t *testing.T) {
	r := newReceiver(t)
	r.down()
	h := newHarness(t, webhookOnly(r.url("/hook")), testSecrets(nil), func(o *Options) {
		o.Now, o.Rand = time.Now, nil
		o.Backoff = Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.d.Run(ctx) }()
	h.notify(failed("tpl-a", "b1"))
	h.notify(failed("tpl-b", "b1"))
	deadline := time.After(30 * time.Second) // a guard against hanging, not a measurement
	for !strings.Contains(h.logText(), "will retry") {
		select {
		case <-deadline:
			t.Fatal("no attempt while the receiver was down")
		case <-time.After(time.Millisecond):
		}
	}
	r.up()
	for len(h.rec.all()) < 2 {
		select {
		case <-deadline:
			t.Fatalf("not delivered: %+v", h.rec.all())
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if ids := deliveredIDs(t, r.got()); len(ids) != 2 {
		t.Errorf("delivered %v", ids)
	}
}

// TestNoSecretLeaves: with receivers that fail and echo what they were
// sent, no secret value appears in a body it does not belong to, an
// error, a Delivery, a log line or a queue file.
func TestNoSecretLeaves(t *testing.T) {
	r := newReceiver(t)
	r.answer(func(h hit) (int, http.Header, string) {
		code := http.StatusInternalServerError
		if strings.HasPrefix(h.Path, "/gotify") {
			code = http.StatusUnauthorized
		}
		return code, nil, "bad request to " + h.Path + "?" + h.Query + " auth " + h.Header.Get("Authorization") + h.Header.Get("X-Gotify-Key")
	})
	n, sec := formats(r)
	n.Sinks = append(n.Sinks, webhookOnly(r.url("/hook")).Sinks...)
	n.Routes = append(n.Routes, state.NotifyRoute{Sink: "hook"})
	h := newHarness(t, n, sec, nil)
	e := failed("tpl-a", "b1")
	e.Message = "build failed; token " + ntfyToken // a caller that leaked one: redacted on the way in
	secrets := []string{hookKey, slackPath, "T0SECRET", ntfyToken, gotifyToken, "teamsSIGsecret123"}
	check := func(where, text string) {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds %q:\n%s", where, s, text)
			}
		}
	}
	checkFiles := func() {
		_ = filepath.WalkDir(h.dir, func(p string, ent os.DirEntry, err error) error {
			if err == nil && !ent.IsDir() {
				b, _ := os.ReadFile(p)
				check(p, string(b))
			}
			return nil
		})
	}
	h.notify(e)
	h.flush()
	if h.d.Pending() != 4 { // gotify refused for good (401); the others wait for a retry
		t.Errorf("%d pending, want 4", h.d.Pending())
	}
	checkFiles() // the pending deliveries with their last errors
	h.clock.Advance(2 * 24 * time.Hour)
	h.flush()
	hits := r.got()
	if len(hits) != 5 {
		t.Fatalf("%d attempts, want one per sink", len(hits))
	}
	for _, x := range hits {
		check("a body to "+x.Path, string(x.Body))
	}
	ds := h.rec.all()
	if len(ds) != 5 {
		t.Fatalf("deliveries %+v", ds)
	}
	for _, d := range ds {
		check("a Delivery", d.Error+d.Sink+d.Template)
		if d.Outcome != GaveUp {
			t.Errorf("%+v", d)
		}
	}
	check("the log", h.logText())
	checkFiles()
}
