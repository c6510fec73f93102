package daemon

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// labelled reads the gauges called name from reg, by their labels
// ("template=tpl-a,build=current").
func labelled(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			out[strings.Join(ls, ",")] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestMetricsClones: the clone gauges are per template (never per
// guest): current and outdated, and the outdated ones by age bucket with
// every bucket present; none before the cluster is observed.
func TestMetricsClones(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, func(o *Options) { o.Registry = reg }, tplA)
	if got := labelled(t, reg, "templated_clones"); len(got) != 0 {
		t.Fatalf("clone gauges before any run: %v", got)
	}
	h.rec.setFn(func(ctx context.Context, req Request) (Outcome, error) {
		req.Observed()
		out := keepAll(req)
		out.Templates[0].Clones = &CloneCounts{Current: 12, Outdated: 3,
			OutdatedByAge: map[string]int{"lt_30d": 0, "30d_90d": 2, "90d_365d": 1, "gt_365d": 0}}
		return out, nil
	})
	h.start()
	waitFor(t, "the first run", func() bool { s := h.d.Status(); return s.LastRun != nil && s.State == phaseIdle })

	clones := labelled(t, reg, "templated_clones")
	want := map[string]float64{"build=current,template=tpl-a": 12, "build=outdated,template=tpl-a": 3}
	if len(clones) != len(want) {
		t.Errorf("templated_clones = %v, want %v", clones, want)
	}
	for k, v := range want {
		if clones[k] != v {
			t.Errorf("templated_clones{%s} = %v, want %v", k, clones[k], v)
		}
	}
	byAge := labelled(t, reg, "templated_clones_outdated")
	wantAge := map[string]float64{"age=lt_30d,template=tpl-a": 0, "age=30d_90d,template=tpl-a": 2,
		"age=90d_365d,template=tpl-a": 1, "age=gt_365d,template=tpl-a": 0}
	if len(byAge) != len(wantAge) {
		t.Errorf("templated_clones_outdated = %v, want %v", byAge, wantAge)
	}
	for k, v := range wantAge {
		if got, ok := byAge[k]; !ok || got != v {
			t.Errorf("templated_clones_outdated{%s} = %v (present %v), want %v", k, got, ok, v)
		}
	}
	ts := h.d.Status().Templates[0]
	if ts.ClonesCurrent != 12 || ts.ClonesOutdated != 3 || ts.ClonesOutdatedByAge["30d_90d"] != 2 {
		t.Errorf("status = %+v", ts)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
}
