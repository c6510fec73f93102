package daemon

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// MetricFamily is one metric family as /metrics can show it.
type MetricFamily struct {
	Name string
	// Type is counter, gauge, histogram, summary or untyped; "" when the
	// collector sent no sample of the family to tell.
	Type string
	Help string
	// Labels are the family's label names, constant ones included (not
	// the "le" and "quantile" of histograms and summaries).
	Labels []string
}

// ExportedMetrics lists every metric family the daemon's /metrics can
// show, whether or not it has a sample yet: the daemon's own (the
// per-template ones and the ledger audit's included) and the Go and
// process collectors'. Names and labels come from the collectors'
// descriptions, types from a sample each collector is made to send, so
// that renaming a metric renames it here. The git source registers its
// own: see RegisteredFamilies.
func ExportedMetrics() ([]MetricFamily, error) {
	rec := &recordingRegisterer{}
	m, err := newMetrics(rec, nil)
	if err != nil {
		return nil, err
	}
	// Give every vector a child and register what is registered late
	// (the audit's intact gauge), through the code that does it in a run.
	m.observeRun(ReasonStart, resultSuccess, time.Second, Outcome{Templates: []TemplateOutcome{
		{Name: "t", Build: BuildSuccess, Duration: time.Minute},
	}})
	m.observeAudit(AuditResult{Intact: true, At: time.Unix(0, 0)})
	cs := runtimeCollectors()
	for _, c := range rec.cs {
		if _, ok := c.(templateCollector); ok {
			c = sampleStatusCollector{}
		}
		cs = append(cs, c)
	}
	return Families(cs...)
}

// sampleStatusCollector describes what templateCollector describes and
// collects a status in which every per-template metric has a sample.
type sampleStatusCollector struct{}

func (sampleStatusCollector) Describe(ch chan<- *prometheus.Desc) { templateCollector{}.Describe(ch) }

func (sampleStatusCollector) Collect(ch chan<- prometheus.Metric) {
	at := time.Unix(0, 0)
	s := Status{Desired: DesiredStatus{Rejected: &Rejection{}}, Templates: []TemplateStatus{{
		Name: "t", BuiltAt: at, LastResult: string(BuildFailure), Drift: "none", NextRebuild: at,
		ClonesOutdatedByAge: map[string]int{"lt_30d": 0},
	}}}
	collectStatus(ch, s, map[string]time.Duration{"t": time.Hour})
}

// recordingRegisterer keeps what is registered with it.
type recordingRegisterer struct{ cs []prometheus.Collector }

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.cs = append(r.cs, c)
	return nil
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) { r.cs = append(r.cs, cs...) }

func (r *recordingRegisterer) Unregister(c prometheus.Collector) bool {
	i := slices.Index(r.cs, c)
	if i >= 0 {
		r.cs = slices.Delete(r.cs, i, i+1)
	}
	return i >= 0
}

// RegisteredFamilies lists the metric families of the collectors that
// register registers with the Registerer it is given (as Families does):
// for the metrics of others, such as the git source's.
func RegisteredFamilies(register func(prometheus.Registerer) error) ([]MetricFamily, error) {
	rec := &recordingRegisterer{}
	if err := register(rec); err != nil {
		return nil, err
	}
	return Families(rec.cs...)
}

// Families lists the metric families cs describe, sorted by name: names,
// help and labels from their descriptions, types from what they collect
// now.
func Families(cs ...prometheus.Collector) ([]MetricFamily, error) {
	byName := map[string]*MetricFamily{}
	byDesc := map[*prometheus.Desc]*MetricFamily{}
	for _, c := range cs {
		for _, d := range describe(c) {
			f, err := parseDesc(d.String())
			if err != nil {
				return nil, err
			}
			if prev, ok := byName[f.Name]; ok {
				prev.Labels = union(prev.Labels, f.Labels)
				byDesc[d] = prev
				continue
			}
			byName[f.Name], byDesc[d] = &f, &f
		}
		for _, m := range collect(c) {
			f := byDesc[m.Desc()]
			if f == nil {
				continue // a collector that collects what it does not describe
			}
			var pb dto.Metric
			if err := m.Write(&pb); err != nil {
				return nil, fmt.Errorf("metric %s: %w", f.Name, err)
			}
			switch t := metricType(&pb); {
			case f.Type == "":
				f.Type = t
			case f.Type != t:
				return nil, fmt.Errorf("metric %s: both %s and %s", f.Name, f.Type, t)
			}
		}
	}
	out := make([]MetricFamily, 0, len(byName))
	for _, f := range byName {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b MetricFamily) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func describe(c prometheus.Collector) []*prometheus.Desc {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	var out []*prometheus.Desc
	for d := range ch {
		out = append(out, d)
	}
	return out
}

func collect(c prometheus.Collector) []prometheus.Metric {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	var out []prometheus.Metric
	for m := range ch {
		out = append(out, m)
	}
	return out
}

func metricType(m *dto.Metric) string {
	switch {
	case m.Counter != nil:
		return "counter"
	case m.Gauge != nil:
		return "gauge"
	case m.Histogram != nil:
		return "histogram"
	case m.Summary != nil:
		return "summary"
	default:
		return "untyped"
	}
}

// descPattern matches Desc.String(): Desc{fqName: "…", help: "…", [unit:
// "…", ]constLabels: {k="v",…}, variableLabels: {a,c(b),…}}.
var (
	descPattern  = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), help: ("(?:[^"\\]|\\.)*"), (?:unit: "(?:[^"\\]|\\.)*", )?constLabels: \{(.*)\}, variableLabels: \{([^{}]*)\}\}$`)
	constPattern = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"`)
)

// parseDesc reads a family's name, help and labels from a Desc's String:
// the client library gives no other way to them.
func parseDesc(s string) (MetricFamily, error) {
	g := descPattern.FindStringSubmatch(s)
	if g == nil {
		return MetricFamily{}, fmt.Errorf("metric description %.200q: unknown form", s)
	}
	name, err := strconv.Unquote(g[1])
	if err != nil {
		return MetricFamily{}, fmt.Errorf("metric description %.200q: name: %w", s, err)
	}
	help, err := strconv.Unquote(g[2])
	if err != nil {
		return MetricFamily{}, fmt.Errorf("metric description %.200q: help: %w", s, err)
	}
	f := MetricFamily{Name: name, Help: help}
	for _, c := range constPattern.FindAllStringSubmatch(g[3], -1) {
		f.Labels = append(f.Labels, c[1])
	}
	if g[4] != "" {
		for _, l := range strings.Split(g[4], ",") {
			if inner, ok := strings.CutPrefix(l, "c("); ok {
				l = strings.TrimSuffix(inner, ")")
			}
			f.Labels = append(f.Labels, l)
		}
	}
	if name == "" {
		return MetricFamily{}, fmt.Errorf("metric description %.200q: no name", s)
	}
	return f, nil
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
