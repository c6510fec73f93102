package contrib

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"templated/internal/daemon"
	"templated/internal/gitsource"
)

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"job", "instance"}

// catalog is what a Prometheus scraping templated can hold, by family name.
type catalog map[string]daemon.MetricFamily

// exported is the catalog of templated's /metrics: the daemon's families
// and the git source's (registered when the daemon follows a remote), as
// the code describes them, and Prometheus's own "up".
func exported(t *testing.T) catalog {
	t.Helper()
	fams, err := daemon.ExportedMetrics()
	if err != nil {
		t.Fatal(err)
	}
	git, err := daemon.RegisteredFamilies(func(reg prometheus.Registerer) error {
		src, err := gitsource.New(gitsource.Config{URL: "file:///nonexistent/templates.git", Ref: "main", Dir: t.TempDir(), Registerer: reg})
		if err == nil {
			t.Cleanup(func() { src.Close() })
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c := catalog{"up": {Name: "up", Type: "gauge", Help: "Prometheus: 1 if the target was scraped."}}
	for _, f := range append(fams, git...) {
		if _, dup := c[f.Name]; dup {
			t.Fatalf("metric %s exported twice", f.Name)
		}
		c[f.Name] = f
	}
	return c
}

// without returns a copy of c without the family name.
func (c catalog) without(name string) catalog {
	out := catalog{}
	for k, v := range c {
		if k != name {
			out[k] = v
		}
	}
	return out
}

// series resolves the name of a selected series to its family and the
// labels the series carries (a histogram's _bucket, _sum and _count, a
// summary's _sum and _count).
func (c catalog) series(name string) (daemon.MetricFamily, []string, bool) {
	if f, ok := c[name]; ok {
		if f.Type == "summary" {
			return f, append(slices.Clone(f.Labels), "quantile"), true
		}
		return f, f.Labels, true
	}
	for suffix, types := range map[string][]string{"_bucket": {"histogram"}, "_sum": {"histogram", "summary"}, "_count": {"histogram", "summary"}} {
		base, ok := strings.CutSuffix(name, suffix)
		if f, known := c[base]; ok && known && slices.Contains(types, f.Type) {
			if suffix == "_bucket" {
				return f, append(slices.Clone(f.Labels), "le"), true
			}
			return f, f.Labels, true
		}
	}
	return daemon.MetricFamily{}, nil, false
}

// names are every series name c can hold.
func (c catalog) names() []string {
	var out []string
	for n, f := range c {
		out = append(out, n)
		switch f.Type {
		case "histogram":
			out = append(out, n+"_bucket", n+"_sum", n+"_count")
		case "summary":
			out = append(out, n+"_sum", n+"_count")
		}
	}
	return out
}

var promqlParser = parser.NewParser(parser.Options{})

// check parses a PromQL expression and returns its problems: metrics c
// does not hold, label names their series do not carry (in matchers, in
// "by" and in "on"/"group_left"), and the names of the metrics it uses.
func (c catalog) check(expr string) (problems, used []string, err error) {
	root, err := promqlParser.ParseExpr(expr)
	if err != nil {
		return nil, nil, err
	}
	parser.Inspect(root, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			p, u := c.checkSelector(n)
			problems, used = append(problems, p...), append(used, u...)
		case *parser.AggregateExpr:
			if !n.Without {
				problems = append(problems, c.checkLabels("by", n.Grouping, n.Expr)...)
			}
		case *parser.BinaryExpr:
			if m := n.VectorMatching; m != nil {
				if m.On {
					problems = append(problems, c.checkLabels("on", m.MatchingLabels, n.LHS, n.RHS)...)
				}
				problems = append(problems, c.checkLabels("group_left/right", m.Include, n.LHS, n.RHS)...)
			}
		}
		return nil
	})
	return problems, used, nil
}

func (c catalog) checkSelector(vs *parser.VectorSelector) (problems, used []string) {
	names := c.selected(vs)
	if len(names) == 0 {
		return []string{fmt.Sprintf("unknown metric %q", selectorName(vs))}, nil
	}
	have := slices.Clone(targetLabels)
	for _, name := range names {
		f, l, _ := c.series(name)
		used, have = append(used, f.Name), append(have, l...)
	}
	for _, m := range vs.LabelMatchers {
		if m.Name != labels.MetricName && !slices.Contains(have, m.Name) {
			problems = append(problems, fmt.Sprintf("unknown label %q of %s", m.Name, selectorName(vs)))
		}
	}
	return problems, used
}

// selected are the known series names vs can select: its name, or those
// its __name__ matcher matches.
func (c catalog) selected(vs *parser.VectorSelector) []string {
	var out []string
	for _, n := range c.names() {
		ok := true
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && !m.Matches(n) {
				ok = false
			}
		}
		if ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName {
			return m.String()
		}
	}
	return vs.String()
}

// checkLabels reports the labels of ls that no series under nodes
// carries (nor Prometheus, nor a label_replace or label_join).
func (c catalog) checkLabels(clause string, ls []string, nodes ...parser.Node) []string {
	have := slices.Clone(targetLabels)
	for _, n := range nodes {
		parser.Inspect(n, func(n parser.Node, _ []parser.Node) error {
			switch n := n.(type) {
			case *parser.VectorSelector:
				for _, name := range c.selected(n) {
					_, l, _ := c.series(name)
					have = append(have, l...)
				}
			case *parser.Call:
				if (n.Func.Name == "label_replace" || n.Func.Name == "label_join") && len(n.Args) > 1 {
					if s, ok := n.Args[1].(*parser.StringLiteral); ok {
						have = append(have, s.Val)
					}
				}
			}
			return nil
		})
	}
	var problems []string
	for _, l := range ls {
		if !slices.Contains(have, l) {
			problems = append(problems, fmt.Sprintf("%s label %q that no series there carries", clause, l))
		}
	}
	return problems
}

// TestCatalogHoldsBothSources: the catalog has the daemon's, the git
// source's and the runtime's families, with the suffixes of histograms.
func TestCatalogHoldsBothSources(t *testing.T) {
	c := exported(t)
	for _, name := range []string{"templated_reconciles_total", "templated_git_refusals_total", "templated_git_revision_age_seconds",
		"templated_build_duration_seconds_bucket", "go_gc_duration_seconds_count", "process_resident_memory_bytes", "up"} {
		if _, _, ok := c.series(name); !ok {
			t.Errorf("%s not in the catalog", name)
		}
	}
	for _, name := range []string{"templated_ready_bucket", "templated_reconciles_total_sum", "templated_nonexistent"} {
		if _, _, ok := c.series(name); ok {
			t.Errorf("%s in the catalog", name)
		}
	}
	if _, l, _ := c.series("templated_git_refusals_total"); !slices.Equal(l, []string{"code"}) {
		t.Errorf("templated_git_refusals_total labels = %v, want [code] (from its description, with no sample yet)", l)
	}
}

// TestCheckFindsProblems: the checker names unknown metrics (also by
// __name__), unknown labels in matchers, "by" and "on", and passes what
// is right.
func TestCheckFindsProblems(t *testing.T) {
	c := exported(t)
	for expr, want := range map[string][]string{
		`sum by (template, le) (rate(templated_build_duration_seconds_bucket{result="success"}[1h]))`:                          nil,
		`{__name__=~"templated_git_.*", code!=""}`:                                                                             nil,
		`label_replace(templated_ready, "x", "$1", "job", "(.*)") * on (x) group_left (template) templated_template_suspended`: nil,
		`templated_template_suspendd`:                                            {`unknown metric "templated_template_suspendd"`},
		`{__name__="templated_nope"}`:                                            {`unknown metric "__name__=\"templated_nope\""`},
		`templated_template_age_seconds{tmpl="a"}`:                               {`unknown label "tmpl" of templated_template_age_seconds`},
		`sum by (node) (templated_clones)`:                                       {`by label "node" that no series there carries`},
		`templated_ready * on (template) templated_desired_rejected`:             {`on label "template" that no series there carries`},
		`sum by (template) (rate(templated_reconcile_duration_seconds_sum[5m]))`: {`by label "template" that no series there carries`},
	} {
		got, _, err := c.check(expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: problems %q, want %q", expr, got, want)
		}
	}
	if _, _, err := c.check(`sum(`); err == nil {
		t.Error("a broken expression parsed")
	}
}
