package daemon

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"templated/internal/state"
)

// metrics are the daemon's Prometheus metrics; the per-template ones are
// computed from the view at scrape time (templateCollector).
type metrics struct {
	reconciles *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	apiErrors  prometheus.Counter
	reloads    *prometheus.CounterVec
	builds     *prometheus.CounterVec
	buildDur   *prometheus.HistogramVec

	reg             prometheus.Registerer
	audit           auditMetrics
	auditErrors     prometheus.Counter
	auditRegistered bool
}

func newMetrics(reg prometheus.Registerer, d *Daemon) (*metrics, error) {
	m := &metrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "templated_reconciles_total",
			Help: "Reconcile runs by first trigger and result (success, failure, unreachable, canceled, skipped).",
		}, []string{"trigger", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "templated_reconcile_duration_seconds",
			Help:    "Duration of reconcile runs, builds included.",
			Buckets: []float64{0.1, 0.5, 1, 5, 30, 60, 300, 900, 1800, 3600, 7200},
		}, []string{"result"}),
		apiErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "templated_proxmox_api_errors_total",
			Help: "Proxmox API errors met by reconcile runs (an unreachable cluster counts at least one per run).",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "templated_desired_reloads_total",
			Help: "Loads of the desired file by result (success, failure).",
		}, []string{"result"}),
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "templated_builds_total",
			Help: "Template builds the daemon ran, by template and result (success, failure); builds stopped by the daemon's own shutdown are not counted.",
		}, []string{"template", "result"}),
		buildDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "templated_build_duration_seconds",
			Help:    "Duration of the template builds the daemon ran, by template and result.",
			Buckets: []float64{60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10800},
		}, []string{"template", "result"}),
		reg:   reg,
		audit: newAuditMetrics(),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "templated_ledger_verify_errors_total",
			Help: "Full checks of the evidence ledger that could not run.",
		}),
	}
	cs := append([]prometheus.Collector{m.reconciles, m.duration, m.apiErrors, m.reloads, m.builds, m.buildDur, m.auditErrors, templateCollector{d}},
		m.audit.collectors()...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	for _, r := range []string{resultSuccess, resultFailure} {
		m.reloads.WithLabelValues(r)
	}
	return m, nil
}

// observeRun counts a run and the builds it reports.
func (m *metrics) observeRun(trigger Reason, result string, dur time.Duration, out Outcome) {
	m.reconciles.WithLabelValues(string(trigger), result).Inc()
	m.duration.WithLabelValues(result).Observe(dur.Seconds())
	apiErrors := out.APIErrors
	if result == resultUnreachable && apiErrors == 0 {
		apiErrors = 1
	}
	m.apiErrors.Add(float64(apiErrors))
	if result == resultCanceled {
		return // a build interrupted by the stop is no build of the template
	}
	for _, o := range out.Templates {
		if o.Build == BuildSuccess || o.Build == BuildFailure {
			m.builds.WithLabelValues(o.Name, string(o.Build)).Inc()
			m.buildDur.WithLabelValues(o.Name, string(o.Build)).Observe(o.Duration.Seconds())
		}
	}
}

// NewRegistry is the registry the daemon serves on /metrics when Options
// leave it unset: the Go and process collectors, and room for others'
// metrics (the git source's) beside the daemon's.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(runtimeCollectors()...)
	return r
}

// runtimeCollectors are the Go runtime's and the process's collectors.
func runtimeCollectors() []prometheus.Collector {
	return []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
}

var (
	descAge = prometheus.NewDesc("templated_template_age_seconds",
		"Age of the template at its reserved VMID (from its build stamp).", []string{"template"}, nil)
	descBuildSuccess = prometheus.NewDesc("templated_template_last_build_success",
		"1 if the last build the daemon ran succeeded, 0 if it failed (absent before the first build).", []string{"template"}, nil)
	descBuildDuration = prometheus.NewDesc("templated_template_last_build_duration_seconds",
		"Duration of the last build the daemon ran.", []string{"template"}, nil)
	descDrift = prometheus.NewDesc("templated_template_drift",
		"1 for the template's drift state as the last run saw it.", []string{"template", "state"}, nil)
	descSuspended = prometheus.NewDesc("templated_template_suspended",
		"1 if the daemon suspended the template after repeated build failures.", []string{"template"}, nil)
	descFailures = prometheus.NewDesc("templated_template_consecutive_failed_builds",
		"Consecutive failed builds of the template.", []string{"template"}, nil)
	descNext = prometheus.NewDesc("templated_template_next_rebuild_timestamp_seconds",
		"When the next scheduled rebuild is due (Unix time).", []string{"template"}, nil)
	descClones = prometheus.NewDesc("templated_clones",
		"Guests cloned from the template, by the build they came from (current or outdated), from their inherited stamp; present once the cluster was observed.",
		[]string{"template", "build"}, nil)
	descClonesOutdated = prometheus.NewDesc("templated_clones_outdated",
		"Guests cloned from an older build of the template, by the age of that build (lt_30d, 30d_90d, 90d_365d, gt_365d; every bucket, zeros included).",
		[]string{"template", "age"}, nil)
	descReady = prometheus.NewDesc("templated_ready",
		"1 while /readyz answers 200.", nil, nil)
	descMaxAge = prometheus.NewDesc("templated_template_max_age_seconds",
		"The template's max_age from the desired file in force (absent when it has none).", []string{"template"}, nil)
	descRejected = prometheus.NewDesc("templated_desired_rejected",
		"1 while the desired file holds content that failed validation (the last good state, if any, stays in force), else 0.", nil, nil)
)

// templateCollector reads the per-template metrics from the status
// snapshot, so that removed templates disappear from /metrics.
type templateCollector struct{ d *Daemon }

func (c templateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAge, descBuildSuccess, descBuildDuration, descDrift, descSuspended, descFailures,
		descNext, descClones, descClonesOutdated, descReady, descMaxAge, descRejected} {
		ch <- d
	}
}

func (c templateCollector) Collect(ch chan<- prometheus.Metric) {
	collectStatus(ch, c.d.snapshot(), maxAges(c.d.desired.Load()))
}

// maxAges are the max ages of des's templates that have one.
func maxAges(des *state.Desired) map[string]time.Duration {
	m := map[string]time.Duration{}
	if des != nil {
		for _, t := range des.Templates {
			if t.MaxAge > 0 {
				m[t.Name] = t.MaxAge
			}
		}
	}
	return m
}

// collectStatus sends the metrics of a status snapshot; maxAge holds the
// templates' max ages.
func collectStatus(ch chan<- prometheus.Metric, s Status, maxAge map[string]time.Duration) {
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, boolFloat(s.Ready))
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.GaugeValue, boolFloat(s.Desired.Rejected != nil))
	for _, t := range s.Templates {
		if a, ok := maxAge[t.Name]; ok {
			ch <- prometheus.MustNewConstMetric(descMaxAge, prometheus.GaugeValue, a.Seconds(), t.Name)
		}
		if !t.BuiltAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(descAge, prometheus.GaugeValue, t.AgeSeconds, t.Name)
		}
		if t.LastResult != string(BuildNone) {
			ch <- prometheus.MustNewConstMetric(descBuildSuccess, prometheus.GaugeValue, boolFloat(t.LastResult == string(BuildSuccess)), t.Name)
			ch <- prometheus.MustNewConstMetric(descBuildDuration, prometheus.GaugeValue, t.LastBuildDurationSeconds, t.Name)
		}
		if t.Drift != "" {
			ch <- prometheus.MustNewConstMetric(descDrift, prometheus.GaugeValue, 1, t.Name, t.Drift)
		}
		ch <- prometheus.MustNewConstMetric(descSuspended, prometheus.GaugeValue, boolFloat(t.Suspended), t.Name)
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.GaugeValue, float64(t.ConsecutiveFailedBuilds), t.Name)
		if !t.NextRebuild.IsZero() {
			ch <- prometheus.MustNewConstMetric(descNext, prometheus.GaugeValue, float64(t.NextRebuild.Unix()), t.Name)
		}
		collectClones(ch, t)
	}
}

// collectClones sends a template's clone counts: per template and build
// or age bucket, never per guest, so that the series stay few however
// many guests are cloned.
func collectClones(ch chan<- prometheus.Metric, t TemplateStatus) {
	if t.ClonesOutdatedByAge == nil {
		return // not observed yet
	}
	ch <- prometheus.MustNewConstMetric(descClones, prometheus.GaugeValue, float64(t.ClonesCurrent), t.Name, "current")
	ch <- prometheus.MustNewConstMetric(descClones, prometheus.GaugeValue, float64(t.ClonesOutdated), t.Name, "outdated")
	for bucket, n := range t.ClonesOutdatedByAge {
		ch <- prometheus.MustNewConstMetric(descClonesOutdated, prometheus.GaugeValue, float64(n), t.Name, bucket)
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
