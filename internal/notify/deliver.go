package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"templated/internal/redact"
)

// maxWait is the longest Run sleeps without looking at the queue.
const maxWait = time.Minute

// Run delivers the queue until ctx ends: each sink's deliveries in order,
// one at a time, sinks side by side; a sink that fails backs off; a
// delivery still failing after the configured give_up_after, or refused
// for good (a 4xx), is given up. It returns nil once ctx is done and the
// attempts in flight have ended; what is pending stays queued.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	for {
		d.sweep(ctx)
		for _, name := range d.startable() {
			wg.Go(func() {
				d.deliverSink(ctx, name)
				d.poke()
			})
		}
		timer.Reset(d.untilNext())
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// Flush makes every attempt that is due now, and returns when they have
// ended: Run's work once, for tests and for callers without a Run.
func (d *Dispatcher) Flush(ctx context.Context) {
	var wg sync.WaitGroup
	d.sweep(ctx)
	for _, name := range d.startable() {
		wg.Go(func() { d.deliverSink(ctx, name) })
	}
	wg.Wait()
}

// startable marks busy, and returns, the configured sinks that are not
// backing off and have a delivery due.
func (d *Dispatcher) startable() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.opts.Now()
	var out []string
	for _, it := range d.queue.items {
		st, ok := d.due(it, now)
		if ok && !st.busy {
			st.busy = true
			out = append(out, it.Sink)
		}
	}
	return out
}

// due reports whether it may be attempted at now, with its sink's state.
// Its caller holds d.mu.
func (d *Dispatcher) due(it *item, now time.Time) (*sinkState, bool) {
	if _, ok := d.cfg.sinks[it.Sink]; !ok || it.busy {
		return nil, false
	}
	st := d.sinks[it.Sink]
	if st == nil {
		st = &sinkState{}
		d.sinks[it.Sink] = st
	}
	return st, !now.Before(it.NextAt) && !now.Before(st.nextAt)
}

// deliverSink attempts the sink's due deliveries, oldest first, until none
// is due or an attempt fails and the sink backs off.
func (d *Dispatcher) deliverSink(ctx context.Context, name string) {
	defer func() {
		d.mu.Lock()
		d.sinks[name].busy = false
		d.mu.Unlock()
	}()
	for ctx.Err() == nil {
		it, sink, ok := d.take(name)
		if !ok {
			return
		}
		err := sink.Send(ctx, it.Event)
		if ctx.Err() != nil {
			d.mu.Lock()
			it.busy = false // not an attempt: the process is stopping
			d.mu.Unlock()
			return
		}
		if !d.settle(ctx, it, err) {
			return
		}
	}
}

// take marks busy, and returns, the sink's oldest due delivery.
func (d *Dispatcher) take(name string) (*item, Sink, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.opts.Now()
	for _, it := range d.queue.items {
		if it.Sink != name {
			continue
		}
		if _, ok := d.due(it, now); ok {
			it.busy = true
			return it, d.cfg.sinks[name].sink, true
		}
	}
	return nil, nil, false
}

// settle ends or reschedules it after an attempt that gave err, and
// reports whether the sink may go on to its next delivery.
func (d *Dispatcher) settle(ctx context.Context, it *item, err error) bool {
	d.mu.Lock()
	it.busy = false
	it.Attempts++
	st := d.sinks[it.Sink]
	var de *DeliveryError
	if err != nil && !errors.As(err, &de) {
		de = &DeliveryError{Sink: it.Sink, Detail: redact.Bound(oneLine(d.opts.Sink.Redact.String(err.Error())), 300)}
	}
	switch {
	case de == nil:
		st.failures, st.nextAt = 0, time.Time{}
		g := d.end(it, Delivered, it.LastError)
		d.mu.Unlock()
		d.log.WithFields(map[string]any{"sink": it.Sink, "event": it.Event.ID, "kind": it.Event.Kind, "attempts": it.Attempts}).Debug("notification delivered")
		d.record(ctx, []Delivery{g})
		return true
	case de.Permanent:
		it.LastStatus = de.Status
		g := d.end(it, GaveUp, de.Error())
		d.mu.Unlock()
		d.log.WithFields(map[string]any{"sink": it.Sink, "event": it.Event.ID, "kind": it.Event.Kind, "status": de.Status}).
			Error("notification refused by its receiver; given up: " + de.Error())
		d.record(ctx, []Delivery{g})
		return true
	}
	now := d.opts.Now()
	st.failures++
	wait := max(d.backoff(st.failures), de.RetryAfter)
	st.nextAt = now.Add(wait)
	it.NextAt, it.LastStatus, it.LastError = st.nextAt, de.Status, de.Error()
	saveErr := d.queue.save(it)
	d.mu.Unlock()
	log := d.log.WithFields(map[string]any{"sink": it.Sink, "event": it.Event.ID, "kind": it.Event.Kind, "attempt": it.Attempts,
		"retry_in": wait.Round(time.Second).String()})
	log.Warn("notification not delivered; will retry: " + de.Error())
	if saveErr != nil {
		log.WithError(saveErr).Error("notification queue: attempt not saved")
	}
	return false
}

// backoff is the wait after the n-th consecutive failure.
func (d *Dispatcher) backoff(n int) time.Duration {
	b := d.opts.Backoff
	w := b.Max
	if n-1 < 32 && b.Initial<<(n-1) > 0 && b.Initial<<(n-1) < b.Max {
		w = b.Initial << (n - 1)
	}
	return w/2 + time.Duration(d.opts.Rand()*float64(w/2))
}

// sweep gives up the deliveries older than give_up_after.
func (d *Dispatcher) sweep(ctx context.Context) {
	d.mu.Lock()
	now := d.opts.Now()
	var given []Delivery
	for _, it := range append([]*item(nil), d.queue.items...) {
		if it.busy || now.Sub(it.Enqueued) < d.cfg.giveUp {
			continue
		}
		why := fmt.Sprintf("not delivered within %s (%d attempts)", d.cfg.giveUp, it.Attempts)
		if _, ok := d.cfg.sinks[it.Sink]; !ok {
			why += "; the sink is no longer configured"
		}
		if it.LastError != "" {
			why += "; last error: " + it.LastError
		}
		given = append(given, d.end(it, GaveUp, why))
	}
	d.mu.Unlock()
	for _, g := range given {
		d.log.WithFields(map[string]any{"sink": g.Sink, "event": g.EventID, "kind": g.Kind}).Error("notification given up: " + g.Error)
	}
	d.record(ctx, given)
}

// untilNext is how long Run may sleep: until the next delivery of an idle
// sink is due or must be given up.
func (d *Dispatcher) untilNext() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.opts.Now()
	next := now.Add(maxWait)
	for _, it := range d.queue.items {
		if it.busy {
			continue
		}
		next = minTime(next, it.Enqueued.Add(d.cfg.giveUp))
		if st, ok := d.sinks[it.Sink]; ok && st.busy {
			continue
		}
		if _, ok := d.cfg.sinks[it.Sink]; ok {
			t := it.NextAt
			if st, ok := d.sinks[it.Sink]; ok && st.nextAt.After(t) {
				t = st.nextAt
			}
			next = minTime(next, t)
		}
	}
	return max(next.Sub(now), 0)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// end removes it from the queue and returns its Delivery. Its caller
// holds d.mu.
func (d *Dispatcher) end(it *item, o Outcome, why string) Delivery {
	if err := d.queue.remove(it); err != nil {
		d.log.WithError(err).WithField("event", it.Event.ID).Error("notification queue: delivery not removed")
	}
	typ := ""
	if c, ok := d.cfg.sinks[it.Sink]; ok {
		typ = c.typ
	}
	return Delivery{EventID: it.Event.ID, Kind: it.Event.Kind, Template: it.Event.Template, BuildID: it.Event.BuildID,
		Sink: it.Sink, SinkType: typ, Attempts: it.Attempts, Outcome: o, Status: it.LastStatus,
		Error: redact.Bound(d.opts.Sink.Redact.String(why), redact.MaxErrorText)}
}

// record tells the Recorder of ended deliveries.
func (d *Dispatcher) record(ctx context.Context, ds []Delivery) {
	if d.opts.Recorder == nil {
		return
	}
	for _, g := range ds {
		if err := d.opts.Recorder.RecordDelivery(ctx, g); err != nil {
			d.log.WithError(err).WithFields(map[string]any{"sink": g.Sink, "event": g.EventID}).Error("notification delivery not recorded")
		}
	}
}
