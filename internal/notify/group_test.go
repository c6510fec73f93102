package notify

import (
	"encoding/json"
	"testing"
	"time"

	"templated/internal/state"
)

// sent decodes what a receiver got, in order.
func sent(t *testing.T, r *receiver) []Event {
	t.Helper()
	var out []Event
	for _, h := range r.got() {
		var e Event
		if err := json.Unmarshal(h.Body, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// TestGrouping: the same failure on five reconciles is sent once; the
// recovery once, even to a route that takes only failures; after the
// repeat interval the failure goes out again with the count held back.
func TestGrouping(t *testing.T) {
	r := newReceiver(t)
	n := webhookOnly(r.url("/hook"))
	n.Routes = []state.NotifyRoute{{Sink: "hook", Events: []string{state.NotifyBuildFailed}}}
	h := newHarness(t, n, testSecrets(nil), nil)
	reconcile := func(events ...Event) {
		for _, e := range events {
			h.notify(e)
		}
		h.flush()
		h.clock.Advance(10 * time.Minute)
	}
	for i := range 5 {
		reconcile(failed("tpl-a", "b"+string(rune('1'+i))))
	}
	if got := sent(t, r); len(got) != 1 || got[0].BuildID != "b1" || got[0].Repeats != 0 {
		t.Fatalf("five identical failures sent %+v, want the first only", got)
	}
	reconcile(succeeded("tpl-a", "b6"))
	reconcile(succeeded("tpl-a", "b7")) // no longer a recovery: not for this route
	got := sent(t, r)
	if len(got) != 2 || got[1].Kind != state.NotifyBuildSucceeded || !got[1].Recovery || got[1].BuildID != "b6" {
		t.Fatalf("after the recovery: %+v", got)
	}
	reconcile(failed("tpl-a", "b8")) // a new failure after the recovery
	if got := sent(t, r); len(got) != 3 || got[2].BuildID != "b8" {
		t.Fatalf("a failure after a recovery is held back: %+v", got)
	}
	for range 3 {
		reconcile(failed("tpl-a", "b9"))
	}
	h.clock.Advance(4 * time.Hour)
	reconcile(failed("tpl-a", "b10"))
	got = sent(t, r)
	if len(got) != 4 || got[3].BuildID != "b10" || got[3].Repeats != 3 {
		t.Fatalf("after the repeat interval: %+v", got)
	}
	// Another template, another reason or another release are other news.
	other := failed("tpl-a", "b11")
	other.Release = "1.0.1"
	reconcile(failed("tpl-b", "b1"), other)
	if got := sent(t, r); len(got) != 6 {
		t.Errorf("distinct failures grouped: %+v", got)
	}
}

// TestRouting: build.succeeded is opt-in; a recovery reaches the routes
// that take failures; templates filter by glob; one delivery per sink
// however many routes match; a test event reaches every sink.
func TestRouting(t *testing.T) {
	c := config{sinks: map[string]configured{"a": {}, "b": {}, "c": {}}, routes: []state.NotifyRoute{
		{Sink: "a"},
		{Sink: "a", Events: []string{state.NotifyBuildFailed}},
		{Sink: "b", Events: []string{state.NotifyBuildSucceeded}, Templates: []string{"tpl-win*"}},
		{Sink: "c", Events: []string{state.NotifyLedgerFailed}, Templates: []string{"tpl-win*"}},
		{Sink: "gone"},
	}}
	for _, tc := range []struct {
		e    Event
		want []string
	}{
		{failed("tpl-win", "1"), []string{"a"}},
		{succeeded("tpl-ubuntu", "1"), nil},
		{succeeded("tpl-win", "1"), []string{"b"}},
		{Event{Kind: state.NotifyBuildSucceeded, Template: "tpl-ubuntu", Recovery: true}, []string{"a"}},
		{Event{Kind: state.NotifyLedgerFailed}, []string{"a", "c"}},
		{Event{Kind: state.NotifyTest}, []string{"a", "b", "c"}},
	} {
		got := c.route(tc.e)
		if len(got) != len(tc.want) {
			t.Errorf("%s %s recovery=%v: %v, want %v", tc.e.Kind, tc.e.Template, tc.e.Recovery, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s %s: %v, want %v", tc.e.Kind, tc.e.Template, got, tc.want)
			}
		}
	}
}

func TestEventCompletion(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	e, err := complete(Event{Kind: state.NotifySuspended, Template: "tpl-a", Message: "\n  three failures in a row\nsecond line\x07"}, now, "inst", nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.Schema != Schema || len(e.ID) != 32 || e.Severity != Critical || e.Installation != "inst" ||
		e.Message != "three failures in a row" || !e.Time.Equal(now.Truncate(time.Millisecond)) || e.Time.Location() != time.UTC {
		t.Errorf("completed %+v", e)
	}
	if e, _ := complete(Event{Kind: state.NotifyLedgerFailed}, now, "", nil); e.Message != "Evidence ledger verification failed" {
		t.Errorf("default message %q", e.Message)
	}
	if _, err := complete(Event{Kind: "build.exploded"}, now, "", nil); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := complete(Event{Kind: state.NotifyTest, ID: "../x"}, now, "", nil); err == nil {
		t.Error("an id that is not a file name part accepted")
	}
	if e := TestEvent("inst", now); e.Kind != state.NotifyTest || e.Severity != Info || e.ID == "" {
		t.Errorf("TestEvent %+v", e)
	}
}
