package gitsource

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the source's Prometheus collectors.
type metrics struct {
	fetches     *prometheus.CounterVec
	lastFetch   prometheus.Gauge
	lastFetchOK prometheus.Gauge
	revTime     prometheus.Gauge
	revAge      prometheus.GaugeFunc
	refusals    *prometheus.CounterVec
	accepted    prometheus.Counter

	reg        prometheus.Registerer
	registered []prometheus.Collector
}

func newMetrics(age func() float64) *metrics {
	m := &metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "templated_git_fetches_total", Help: "Fetches from the git remote, by result.",
		}, []string{"result"}),
		lastFetch: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "templated_git_last_fetch_timestamp_seconds", Help: "When the last fetch ended.",
		}),
		lastFetchOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "templated_git_last_fetch_success", Help: "1 if the last fetch succeeded, 0 if not.",
		}),
		revTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "templated_git_revision_timestamp_seconds", Help: "Committer time of the revision in force.",
		}),
		revAge: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "templated_git_revision_age_seconds", Help: "Seconds since the committer time of the revision in force (0: none).",
		}, age),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "templated_git_refusals_total", Help: "Fetched revisions refused, by code (each commit and code counted once).",
		}, []string{"code"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "templated_git_accepted_total", Help: "Revisions put in force.",
		}),
	}
	m.fetches.WithLabelValues("success")
	m.fetches.WithLabelValues("failure")
	return m
}

// register registers every collector with reg (nil: none); on a conflict
// it undoes what it did.
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	m.reg = reg
	for _, c := range []prometheus.Collector{m.fetches, m.lastFetch, m.lastFetchOK, m.revTime, m.revAge, m.refusals, m.accepted} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return fmt.Errorf("git source metrics: already registered (close the previous source first): %w", err)
			}
			return fmt.Errorf("git source metrics: %w", err)
		}
		m.registered = append(m.registered, c)
	}
	return nil
}

func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

func (m *metrics) fetched(at time.Time, ok bool) {
	m.lastFetch.Set(float64(at.UnixNano()) / 1e9)
	if ok {
		m.fetches.WithLabelValues("success").Inc()
		m.lastFetchOK.Set(1)
		return
	}
	m.fetches.WithLabelValues("failure").Inc()
	m.lastFetchOK.Set(0)
}

func (m *metrics) setRevision(rev Revision) {
	m.revTime.Set(float64(rev.CommittedAt.Unix()))
}
