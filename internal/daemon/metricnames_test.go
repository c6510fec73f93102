package daemon

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestExportedMetrics: every family the daemon's collectors describe is
// listed once, with its labels and, for templated's own, the type its
// samples have.
func TestExportedMetrics(t *testing.T) {
	fams, err := ExportedMetrics()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]MetricFamily{}
	for _, f := range fams {
		if _, dup := got[f.Name]; dup {
			t.Errorf("%s listed twice", f.Name)
		}
		got[f.Name] = f
		if strings.HasPrefix(f.Name, "templated_") && f.Type == "" {
			t.Errorf("%s: no sample told its type (give it one in ExportedMetrics)", f.Name)
		}
	}
	want := map[string]struct {
		typ    string
		labels []string
	}{
		"templated_reconciles_total":                        {"counter", []string{"trigger", "result"}},
		"templated_reconcile_duration_seconds":              {"histogram", []string{"result"}},
		"templated_builds_total":                            {"counter", []string{"template", "result"}},
		"templated_build_duration_seconds":                  {"histogram", []string{"template", "result"}},
		"templated_template_drift":                          {"gauge", []string{"template", "state"}},
		"templated_template_max_age_seconds":                {"gauge", []string{"template"}},
		"templated_template_next_rebuild_timestamp_seconds": {"gauge", []string{"template"}},
		"templated_clones_outdated":                         {"gauge", []string{"template", "age"}},
		"templated_desired_rejected":                        {"gauge", nil},
		"templated_ready":                                   {"gauge", nil},
		"templated_ledger_verify_intact":                    {"gauge", nil},
		"templated_ledger_verify_errors_total":              {"counter", nil},
		"go_goroutines":                                     {"gauge", nil},
		"go_gc_duration_seconds":                            {"summary", nil},
	}
	for name, w := range want {
		f, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if f.Type != w.typ || !slices.Equal(f.Labels, w.labels) || f.Help == "" {
			t.Errorf("%s = %+v, want type %s, labels %v and a help text", name, f, w.typ, w.labels)
		}
	}
}

// TestExportedMetricsCoverTheRegistry: what a real daemon registers is
// what ExportedMetrics lists, also after a run and an audit.
func TestExportedMetricsCoverTheRegistry(t *testing.T) {
	reg := NewRegistry()
	h := newHarness(t, func(o *Options) { o.Registry = reg }, tplA)
	h.start()
	waitFor(t, "the first run", func() bool { s := h.d.Status(); return s.LastRun != nil && s.State == phaseIdle })
	h.d.met.observeAudit(AuditResult{Intact: true})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	fams, err := ExportedMetrics()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, f := range fams {
		listed[f.Name] = f.Type
	}
	for _, mf := range mfs {
		typ, ok := listed[mf.GetName()]
		if !ok {
			t.Errorf("%s is served but not listed", mf.GetName())
			continue
		}
		if want := strings.ToLower(mf.GetType().String()); typ != "" && typ != want {
			t.Errorf("%s listed as %s, served as %s", mf.GetName(), typ, want)
		}
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
}

// TestFamiliesFromDescriptions: a vector with no child yet is listed from
// its description, typed once it has one; constant and constrained
// labels count; two descriptions of one name merge.
func TestFamiliesFromDescriptions(t *testing.T) {
	empty := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_total", Help: `say "hi"`,
		ConstLabels: prometheus.Labels{"site": `a,"b"`}}, []string{"code"})
	constrained := prometheus.V2.NewGaugeVec(prometheus.GaugeVecOpts{
		GaugeOpts:      prometheus.GaugeOpts{Name: "y", Help: "y."},
		VariableLabels: prometheus.ConstrainedLabels{{Name: "k", Constraint: strings.ToLower}, {Name: "j"}},
	})
	constrained.WithLabelValues("A", "b").Set(1)
	fams, err := Families(empty, constrained)
	if err != nil {
		t.Fatal(err)
	}
	want := []MetricFamily{
		{Name: "x_total", Help: `say "hi"`, Labels: []string{"site", "code"}},
		{Name: "y", Type: "gauge", Help: "y.", Labels: []string{"k", "j"}},
	}
	if len(fams) != len(want) {
		t.Fatalf("families = %+v, want %+v", fams, want)
	}
	for i := range want {
		if fams[i].Name != want[i].Name || fams[i].Type != want[i].Type || fams[i].Help != want[i].Help || !slices.Equal(fams[i].Labels, want[i].Labels) {
			t.Errorf("family %d = %+v, want %+v", i, fams[i], want[i])
		}
	}
	if _, err := parseDesc("Desc{something else}"); err == nil {
		t.Error("parseDesc accepted an unknown form")
	}
}
