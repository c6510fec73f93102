package contrib

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// evalAt is when the alerts are evaluated; the made-up series run for
// the two hours before it, a sample a minute.
var evalAt = time.Unix(1_800_000_000, 0)

// series is one made-up series: its labels as PromQL writes them and its
// value at each minute m of the two hours (m = 0 is two hours before
// evalAt, m = 120 is evalAt).
type series struct {
	metric string
	value  func(m int) float64
}

func gauge(v float64) func(int) float64 { return func(int) float64 { return v } }

// counter grows by perMinute each minute.
func counter(perMinute float64) func(int) float64 {
	return func(m int) float64 { return perMinute * float64(m) }
}

// memory is a storage.Queryable over made-up series.
type memory []storage.Series

func newMemory(t *testing.T, ss []series) memory {
	t.Helper()
	var out memory
	for _, s := range ss {
		ls, err := promqlParser.ParseMetric(s.metric)
		if err != nil {
			t.Fatalf("%s: %v", s.metric, err)
		}
		var samples []chunks.Sample
		for m := 0; m <= 120; m++ {
			at := evalAt.Add(time.Duration(m-120) * time.Minute)
			samples = append(samples, sample{t: at.UnixMilli(), f: s.value(m)})
		}
		out = append(out, storage.NewListSeries(ls, samples))
	}
	return out
}

func (s memory) Querier(_, _ int64) (storage.Querier, error) { return s, nil }

func (s memory) Select(_ context.Context, _ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	var out []storage.Series
	for _, x := range s {
		if matchAll(x.Labels(), ms) {
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	return &seriesSet{list: out, i: -1}
}

func matchAll(ls labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

func (memory) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (memory) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (memory) Close() error { return nil }

type seriesSet struct {
	list []storage.Series
	i    int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i < len(s.list) }
func (s *seriesSet) At() storage.Series                { return s.list[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

// sample is a float sample.
type sample struct {
	t int64
	f float64
}

func (s sample) T() int64                      { return s.t }
func (s sample) ST() int64                     { return 0 }
func (s sample) F() float64                    { return s.f }
func (s sample) H() *histogram.Histogram       { return nil }
func (s sample) FH() *histogram.FloatHistogram { return nil }
func (s sample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s sample) Copy() chunks.Sample           { return s }

// firing evaluates the expression of the rule named alert (the one with
// severity, and whose expression uses metric, if given) over ss at evalAt, and returns the label sets that
// fire, as "instance=a,template=t" (only those two labels, "" for none).
func firing(t *testing.T, alert, severity, metric string, ss []series) []string {
	t.Helper()
	groups, err := parseRules(readFile(t, alertsFile))
	if err != nil {
		t.Fatal(err)
	}
	expr := ""
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == alert && (severity == "" || r.Labels["severity"] == severity) && strings.Contains(r.Expr, metric) {
				expr = r.Expr
			}
		}
	}
	if expr == "" {
		t.Fatalf("no rule %s %s", alert, severity)
	}
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, Parser: promqlParser})
	q, err := eng.NewInstantQuery(context.Background(), newMemory(t, ss), nil, expr, evalAt)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	res := q.Exec(context.Background())
	if res.Err != nil {
		t.Fatalf("%s: %v", alert, res.Err)
	}
	vec, err := res.Vector()
	if err != nil {
		t.Fatalf("%s: %v", alert, err)
	}
	var out []string
	for _, s := range vec {
		var kv []string
		for _, l := range []string{"instance", "template"} {
			if v := s.Metric.Get(l); v != "" {
				kv = append(kv, l+"="+v)
			}
		}
		out = append(out, strings.Join(kv, ","))
	}
	slices.Sort(out)
	return out
}

// TestAlertsFire evaluates alert expressions with Prometheus's engine
// over made-up series: each fires for the sick series and only for them
// (the rules' "for" is Prometheus's business, not evaluated here).
func TestAlertsFire(t *testing.T) {
	const day = 86400
	for _, c := range []struct {
		alert, severity, metric string
		series                  []series
		want                    []string
	}{
		{"TemplatedDown", "", "", []series{
			{`up{job="templated", instance="a"}`, gauge(0)},
			{`up{job="templated", instance="b"}`, gauge(1)},
			{`up{job="node", instance="c"}`, gauge(0)},
		}, []string{"instance=a"}},
		{"TemplatedDown", "", "", []series{
			{`up{job="node", instance="c"}`, gauge(1)},
		}, []string{""}}, // no templated target at all
		{"TemplatedTemplateStale", "", "", []series{
			{`templated_template_age_seconds{instance="a", template="old"}`, gauge(40 * day)},
			{`templated_template_max_age_seconds{instance="a", template="old"}`, gauge(30 * day)},
			{`templated_template_age_seconds{instance="a", template="young"}`, gauge(10 * day)},
			{`templated_template_max_age_seconds{instance="a", template="young"}`, gauge(30 * day)},
			{`templated_template_age_seconds{instance="a", template="ageless"}`, gauge(400 * day)},
		}, []string{"instance=a,template=old"}},
		{"TemplatedBuildsFailing", "critical", "", []series{
			{`templated_template_consecutive_failed_builds{instance="a", template="x"}`, gauge(3)},
			{`templated_template_consecutive_failed_builds{instance="a", template="y"}`, gauge(1)},
			{`templated_template_consecutive_failed_builds{instance="a", template="z"}`, gauge(0)},
		}, []string{"instance=a,template=x"}},
		{"TemplatedBuildsFailing", "warning", "", []series{
			{`templated_template_consecutive_failed_builds{instance="a", template="y"}`, gauge(1)},
			{`templated_template_consecutive_failed_builds{instance="a", template="z"}`, gauge(0)},
		}, []string{"instance=a,template=y"}},
		{"TemplatedProxmoxUnreachable", "", "", []series{
			// a: every run for two hours unreachable; b: unreachable, but runs also get through.
			{`templated_reconciles_total{instance="a", trigger="retry", result="unreachable"}`, counter(0.2)},
			{`templated_reconciles_total{instance="a", trigger="interval", result="success"}`, gauge(7)},
			{`templated_reconciles_total{instance="b", trigger="retry", result="unreachable"}`, counter(0.2)},
			{`templated_reconciles_total{instance="b", trigger="interval", result="success"}`, counter(0.1)},
		}, []string{"instance=a"}},
		{"TemplatedReconcileFailing", "", "", []series{
			{`templated_reconciles_total{instance="a", trigger="interval", result="failure"}`, counter(0.1)},
			{`templated_reconciles_total{instance="a", trigger="interval", result="success"}`, counter(0.02)},
			{`templated_reconciles_total{instance="b", trigger="interval", result="failure"}`, counter(0.01)},
			{`templated_reconciles_total{instance="b", trigger="interval", result="success"}`, counter(0.1)},
		}, []string{"instance=a"}},
		{"TemplatedLedgerVerifyNotRunning", "", "templated_ledger_verify_timestamp_seconds", []series{
			{`templated_ledger_verify_timestamp_seconds{instance="a"}`, gauge(float64(evalAt.Unix() - 3*day))},
			{`templated_ledger_verify_timestamp_seconds{instance="b"}`, gauge(float64(evalAt.Unix() - day))},
			{`templated_ledger_verify_timestamp_seconds{instance="c"}`, gauge(0)}, // none since the start
		}, []string{"instance=a", "instance=c"}},
		{"TemplatedLedgerVerifyNotRunning", "", "templated_ledger_verify_errors_total", []series{
			{`templated_ledger_verify_errors_total{instance="a"}`, func(m int) float64 { return float64(m / 100) }}, // one error 20 minutes ago
			{`templated_ledger_verify_errors_total{instance="b"}`, gauge(4)},
		}, []string{"instance=a"}},
		{"TemplatedOutdatedClones", "", "", []series{
			{`templated_clones{instance="a", template="x", build="outdated"}`, gauge(25)},
			{`templated_clones{instance="a", template="x", build="current"}`, gauge(100)},
			{`templated_clones{instance="a", template="y", build="outdated"}`, gauge(3)},
		}, []string{"instance=a,template=x"}},
	} {
		got := firing(t, c.alert, c.severity, c.metric, c.series)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s %s %s fires for %q, want %q", c.alert, c.severity, c.metric, got, c.want)
		}
	}
}
