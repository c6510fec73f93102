package notify

import (
	"context"
	"fmt"
	"testing"
	"time"

	"templated/internal/state"
)

// benchDispatcher is a Dispatcher with three sinks (webhook, Slack, ntfy)
// on a receiver that is never asked: only what a reconcile pays counts.
func benchDispatcher(b *testing.B, maxPending int) (*Dispatcher, *clock) {
	n := &state.Notifications{
		Sinks: []state.NotifySink{
			{Name: "hook", Type: state.SinkWebhook, URL: "http://127.0.0.1:9/hook", HMACSecret: "HOOK_KEY"},
			{Name: "slack", Type: state.SinkSlack, URLSecret: "SLACK_URL"},
			{Name: "phone", Type: state.SinkNtfy, URL: "http://127.0.0.1:9/topic", TokenSecret: "NTFY_TOKEN"},
		},
		Routes:         []state.NotifyRoute{{Sink: "hook"}, {Sink: "slack"}, {Sink: "phone"}},
		RepeatInterval: 4 * time.Hour, GiveUpAfter: 24 * time.Hour,
	}
	c := newClock()
	d, err := New(n, testSecrets(map[string]string{"SLACK_URL": "http://127.0.0.1:9" + slackPath}),
		Options{Dir: b.TempDir(), Installation: "bench", Now: c.Now, MaxPending: maxPending})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d, c
}

// BenchmarkNotifyPerReconcile is what notifications cost one reconcile
// with three sinks configured: Notify of the run's events, grouping and
// the durable enqueue included (the network is Run's, not the
// reconcile's).
//
//   - steady: a run that finds the same failing and stale templates as
//     the last one (two events, both held back by grouping);
//   - new-failure: a run with a failure to tell (one event, three
//     deliveries written and fsync'd, the grouping state of 20 templates
//     saved).
func BenchmarkNotifyPerReconcile(b *testing.B) {
	ctx := context.Background()
	stale := Event{Kind: state.NotifyStale, Template: "tpl-b", Release: "2.0.0", Reason: "max-age",
		Message: "tpl-b was built 40d ago, longer than its max_age 35d, and was not rebuilt"}
	b.Run("steady", func(b *testing.B) {
		d, c := benchDispatcher(b, 0)
		if err := d.Notify(ctx, failed("tpl-a", "b0")); err != nil {
			b.Fatal(err)
		}
		if err := d.Notify(ctx, stale); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			c.Advance(time.Millisecond)
			if err := d.Notify(ctx, failed("tpl-a", fmt.Sprint("b", i))); err != nil {
				b.Fatal(err)
			}
			if err := d.Notify(ctx, stale); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if d.Pending() != 6 {
			b.Fatalf("%d pending, want the first run's 6", d.Pending())
		}
	})
	b.Run("new-failure", func(b *testing.B) {
		d, c := benchDispatcher(b, 3*b.N+3)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			c.Advance(13 * time.Minute) // 20 templates, each failing again after the repeat interval
			if err := d.Notify(ctx, failed(fmt.Sprint("tpl-", i%20), fmt.Sprint("b", i))); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if d.Pending() != 3*b.N {
			b.Fatalf("%d pending, want %d", d.Pending(), 3*b.N)
		}
	})
}
