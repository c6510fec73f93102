package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"templated/internal/state"
)

// samples collects c's metrics, by their labels
// ("result=success,template=tpl-a").
func samples(t *testing.T, c prometheus.Collector) map[string]*dto.Metric {
	t.Helper()
	out := map[string]*dto.Metric{}
	for _, m := range collect(c) {
		pb := &dto.Metric{}
		if err := m.Write(pb); err != nil {
			t.Fatal(err)
		}
		var key []string
		for _, l := range pb.GetLabel() {
			key = append(key, l.GetName()+"="+l.GetValue())
		}
		out[strings.Join(key, ",")] = pb
	}
	return out
}

// TestMetricsCountBuilds: each build a run reports counts once by
// template and result, with its duration; a build the daemon's stop
// interrupted does not count.
func TestMetricsCountBuilds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		h := newHarness(t, func(o *Options) { o.Registry = reg }, tplA, tplB)
		h.rec.setFn(func(_ context.Context, req Request) (Outcome, error) {
			req.Observed()
			out := keepAll(req)
			out.Templates[0].Build, out.Templates[0].Duration = BuildSuccess, 90*time.Second
			out.Templates[1].Build, out.Templates[1].Duration, out.Templates[1].Error = BuildFailure, 30*time.Second, "packer exited 1"
			return out, errors.New("build tpl-b: packer exited 1")
		})
		h.start()
		synctest.Wait()
		h.rec.setFn(func(ctx context.Context, req Request) (Outcome, error) {
			req.Observed()
			<-ctx.Done()
			out := keepAll(req)
			out.Templates[0].Build, out.Templates[0].Error = BuildFailure, "signal: interrupt"
			return out, errors.New("build tpl-a: packer: signal: interrupt")
		})
		h.change()
		time.Sleep(time.Second) // the debounce
		synctest.Wait()
		if n := h.rec.n(); n != 2 {
			t.Fatalf("runs = %d, want the second one in flight", n)
		}
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}

		builds := samples(t, h.d.met.builds)
		want := map[string]float64{"result=success,template=tpl-a": 1, "result=failure,template=tpl-b": 1}
		if len(builds) != len(want) {
			t.Errorf("templated_builds_total has %d series, want %v", len(builds), want)
		}
		for k, v := range want {
			if got := builds[k].GetCounter().GetValue(); got != v {
				t.Errorf("templated_builds_total{%s} = %v, want %v", k, got, v)
			}
		}
		dur := samples(t, h.d.met.buildDur)
		if h := dur["result=success,template=tpl-a"].GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 90 {
			t.Errorf("templated_build_duration_seconds{tpl-a,success} = %v", h)
		}
		if h := dur["result=failure,template=tpl-b"].GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != 30 {
			t.Errorf("templated_build_duration_seconds{tpl-b,failure} = %v", h)
		}
	})
}

// TestMetricsMaxAgeAndRejected: max_age is shown for the templates that
// have one; the rejected gauge follows the status.
func TestMetricsMaxAgeAndRejected(t *testing.T) {
	s := Status{Templates: []TemplateStatus{{Name: "tpl-a", LastResult: string(BuildNone)}, {Name: "tpl-b", LastResult: string(BuildNone)}}}
	ages := maxAges(&state.Desired{Templates: []state.Template{{Name: "tpl-a", MaxAge: 30 * 24 * time.Hour}, {Name: "tpl-b"}}})
	c := &statusCollector{s: s, maxAge: ages, only: descMaxAge}
	got := samples(t, c)
	if len(got) != 1 || got["template=tpl-a"].GetGauge().GetValue() != 30*86400 {
		t.Errorf("templated_template_max_age_seconds = %v, want tpl-a only, 30 days", got)
	}
	c.only = descRejected
	if v := samples(t, c)[""].GetGauge().GetValue(); v != 0 {
		t.Errorf("templated_desired_rejected = %v with nothing rejected", v)
	}
	c.s.Desired.Rejected = &Rejection{SHA256: "ab", Error: "templates[0].vmid: required"}
	if v := samples(t, c)[""].GetGauge().GetValue(); v != 1 {
		t.Errorf("templated_desired_rejected = %v while a file is rejected", v)
	}
}

// statusCollector collects the metrics of a fixed status described by
// only.
type statusCollector struct {
	s      Status
	maxAge map[string]time.Duration
	only   *prometheus.Desc
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.only }

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() {
		collectStatus(all, c.s, c.maxAge)
		close(all)
	}()
	for m := range all {
		if m.Desc() == c.only {
			ch <- m
		}
	}
}
