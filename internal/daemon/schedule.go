package daemon

import (
	"time"

	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"

	"templated/internal/state"
)

// zoned evaluates a cron schedule in a template's time zone, whatever
// location the cron runner works in.
type zoned struct {
	s   cron.Schedule
	loc *time.Location
}

func (z zoned) Next(t time.Time) time.Time {
	if z.loc != nil {
		t = t.In(z.loc)
	}
	return z.s.Next(t)
}

// schedule returns the zoned patch schedule of t, or nil.
func schedule(t state.Template) cron.Schedule {
	if t.Schedule == nil {
		return nil
	}
	return zoned{s: t.Schedule, loc: t.Location}
}

// startCron starts a cron runner with one entry per scheduled template of
// d; each entry only adds a trigger.
// d may be nil (no desired state in force): then there is no entry.
func startCron(d *state.Desired, q *triggers, log logrus.FieldLogger) *cron.Cron {
	c := cron.New(
		cron.WithLocation(time.UTC),
		cron.WithChain(cron.Recover(cronLogger{log})),
		cron.WithLogger(cronLogger{log}),
	)
	var tpls []state.Template
	if d != nil {
		tpls = d.Templates
	}
	for _, t := range tpls {
		s := schedule(t)
		if s == nil {
			continue
		}
		name := t.Name
		c.Schedule(s, cron.FuncJob(func() {
			q.add(Trigger{Reasons: []Reason{ReasonSchedule}, Due: []string{name}})
		}))
	}
	c.Start()
	return c
}

// stopCron stops c and waits for its goroutine.
func stopCron(c *cron.Cron) {
	if c != nil {
		<-c.Stop().Done()
	}
}

// NextRebuild is when t is next rebuilt on schedule: the earlier of its
// next patch time after now (in its time zone) and the end of its max age
// counted from builtAt (zero when neither applies; in the past when the
// template is overdue). The daemon's /status and `templated status
// --direct` both use it.
func NextRebuild(t state.Template, builtAt, now time.Time) time.Time {
	var next time.Time
	if s := schedule(t); s != nil {
		next = s.Next(now)
	}
	if t.MaxAge > 0 && !builtAt.IsZero() {
		if due := builtAt.Add(t.MaxAge); next.IsZero() || due.Before(next) {
			next = due
		}
	}
	return next
}

// cronLogger sends cron's logs to logrus (cron's info logs go to debug).
type cronLogger struct{ log logrus.FieldLogger }

func (l cronLogger) Info(msg string, kv ...any) {
	l.log.WithField("component", "cron").WithField("kv", kv).Debug(msg)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.WithField("component", "cron").WithField("kv", kv).WithError(err).Error(msg)
}
