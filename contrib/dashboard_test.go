package contrib

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const dashboardFile = "grafana/templated.json"

// query is one PromQL text of the dashboard, and where it is.
type query struct {
	where string
	expr  string
	// label is the label a label_values() variable lists ("" for none).
	label string
}

// dashboardQueries finds every PromQL text of a dashboard: panel targets
// (in rows, collapsed ones included), annotations and query variables.
func dashboardQueries(data []byte) ([]query, error) {
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	var out []query
	var walk func(path string, v any) error
	walk = func(path string, v any) error {
		switch v := v.(type) {
		case map[string]any:
			if e, ok := v["expr"]; ok {
				s, ok := e.(string)
				if !ok {
					return fmt.Errorf("%s.expr is not a string", path)
				}
				out = append(out, query{where: path + " " + titleOf(v), expr: s})
			}
			if v["type"] == "query" {
				q, err := variableQuery(path, v)
				if err != nil {
					return err
				}
				out = append(out, q...)
			}
			for k, x := range v {
				if err := walk(path+"."+k, x); err != nil {
					return err
				}
			}
		case []any:
			for i, x := range v {
				p := fmt.Sprintf("%s[%d]", path, i)
				if m, ok := x.(map[string]any); ok && m["title"] != nil {
					p += fmt.Sprintf("(%v)", m["title"])
				}
				if err := walk(p, x); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk("", doc); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b query) int { return strings.Compare(a.where, b.where) })
	return out, nil
}

func titleOf(v map[string]any) string {
	if s, ok := v["refId"].(string); ok {
		return s
	}
	return ""
}

var (
	labelValues = regexp.MustCompile(`^\s*label_values\((?:(.*),)?\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)
	queryResult = regexp.MustCompile(`^\s*query_result\((.*)\)\s*$`)
)

// variableQuery reads a query variable's PromQL: label_values(expr,
// label), query_result(expr); a bare label_values(label), metrics() and
// label_names() name no metric.
func variableQuery(path string, v map[string]any) ([]query, error) {
	var text string
	switch q := v["query"].(type) {
	case string:
		text = q
	case map[string]any:
		text, _ = q["query"].(string)
	}
	where := fmt.Sprintf("%s variable %v", path, v["name"])
	if m := labelValues.FindStringSubmatch(text); m != nil {
		if m[1] == "" {
			return nil, nil
		}
		return []query{{where: where, expr: m[1], label: m[2]}}, nil
	}
	if m := queryResult.FindStringSubmatch(text); m != nil {
		return []query{{where: where, expr: m[1]}}, nil
	}
	if strings.HasPrefix(strings.TrimSpace(text), "metrics(") || strings.HasPrefix(strings.TrimSpace(text), "label_names(") {
		return nil, nil
	}
	return nil, fmt.Errorf("%s: query %q: not a Prometheus variable query this test knows", where, text)
}

// grafanaVars are Grafana's interval variables (they stand where PromQL
// wants a duration); other variables may stand only inside strings.
var grafanaVars = regexp.MustCompile(`\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}`)

// checkDashboard returns the problems of every query ("where: problem")
// and the metrics the queries use.
func checkDashboard(qs []query, c catalog) (problems, used []string) {
	for _, q := range qs {
		p, u, err := c.check(grafanaVars.ReplaceAllString(q.expr, "5m"))
		if err != nil {
			p = append(p, err.Error())
		}
		if q.label != "" && len(u) > 0 && !c.carry(u, q.label) {
			p = append(p, fmt.Sprintf("label_values of label %q that %v do not carry", q.label, u))
		}
		for _, x := range p {
			problems = append(problems, q.where+": "+x)
		}
		used = append(used, u...)
	}
	return problems, used
}

// carry reports whether one of the families carries label.
func (c catalog) carry(families []string, label string) bool {
	if slices.Contains(targetLabels, label) {
		return true
	}
	for _, f := range families {
		if slices.Contains(c[f].Labels, label) {
			return true
		}
	}
	return false
}

// TestDashboard: every query of the dashboard parses as PromQL and names
// only metrics and labels templated exports.
func TestDashboard(t *testing.T) {
	qs, err := dashboardQueries(readFile(t, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	problems, used := checkDashboard(qs, exported(t))
	for _, p := range problems {
		t.Error(p)
	}
	if len(qs) < 20 || !slices.Contains(used, "templated_git_fetches_total") {
		t.Errorf("%d queries, metrics %v: the collapsed rows' panels or the variables were not found", len(qs), used)
	}
}

// TestDashboardCovers: the dashboard shows what issue 16 asks for, each
// by the metric that says it.
func TestDashboardCovers(t *testing.T) {
	qs, err := dashboardQueries(readFile(t, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	_, used := checkDashboard(qs, exported(t))
	for topic, metric := range map[string]string{
		"builds":             "templated_builds_total",
		"build durations":    "templated_build_duration_seconds",
		"reconcile duration": "templated_reconcile_duration_seconds",
		"failures":           "templated_template_consecutive_failed_builds",
		"template ages":      "templated_template_age_seconds",
		"next rebuilds":      "templated_template_next_rebuild_timestamp_seconds",
		"reconcile triggers": "templated_reconciles_total",
		"ledger size":        "templated_ledger_entries",
	} {
		if !slices.Contains(used, metric) {
			t.Errorf("no panel shows %s (%s)", topic, metric)
		}
	}
	byTrigger := false
	for _, q := range qs {
		byTrigger = byTrigger || regexp.MustCompile(`by \(trigger\) \(increase\(templated_reconciles_total`).MatchString(q.expr)
	}
	if !byTrigger {
		t.Error("no panel shows reconciles by trigger")
	}
}

// TestDashboardCatchesRenamedMetric: a metric renamed in the code or in
// the dashboard is named, and nothing else is.
func TestDashboardCatchesRenamedMetric(t *testing.T) {
	c, data := exported(t), readFile(t, dashboardFile)
	qs, err := dashboardQueries(data)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := checkDashboard(qs, c.without("templated_ledger_entries"))
	if len(got) != 1 || !strings.HasSuffix(got[0], `unknown metric "templated_ledger_entries"`) {
		t.Errorf("without templated_ledger_entries in the code: %q", got)
	}

	uses := 0
	for _, q := range qs {
		if strings.Contains(q.expr, "templated_template_suspended") {
			uses++
		}
	}
	renamed := strings.ReplaceAll(string(data), "templated_template_suspended", "templated_template_paused")
	if qs, err = dashboardQueries([]byte(renamed)); err != nil {
		t.Fatal(err)
	}
	got, _ = checkDashboard(qs, c)
	n := 0
	for _, p := range got {
		if strings.HasSuffix(p, `unknown metric "templated_template_paused"`) {
			n++
		}
	}
	if uses == 0 || n != uses || len(got) != uses {
		t.Errorf("templated_template_paused in the dashboard's %d queries that used templated_template_suspended: %q", uses, got)
	}
}

// TestDashboardQueriesFound: targets in collapsed rows, annotations and
// each form of variable query are found; an unknown variable query is an
// error, not a query skipped.
func TestDashboardQueriesFound(t *testing.T) {
	doc := `{"annotations": {"list": [{"expr": "templated_ready"}]},
	  "templating": {"list": [
	    {"type": "query", "name": "a", "query": "label_values(templated_clones{job=~\"$job\"}, build)"},
	    {"type": "query", "name": "b", "query": {"query": "query_result(templated_ready)", "refId": "X"}},
	    {"type": "query", "name": "c", "query": "label_values(job)"}]},
	  "panels": [{"type": "row", "collapsed": true, "panels": [{"targets": [{"refId": "A", "expr": "sum(rate(templated_reconciles_total[$__rate_interval]))"}]}]}]}`
	qs, err := dashboardQueries([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, q := range qs {
		got = append(got, q.expr+"|"+q.label)
	}
	want := []string{"templated_ready|", "sum(rate(templated_reconciles_total[$__rate_interval]))|",
		`templated_clones{job=~"$job"}|build`, "templated_ready|"}
	if !slices.Equal(got, want) {
		t.Errorf("queries %q, want %q", got, want)
	}
	if problems, _ := checkDashboard(qs, exported(t)); len(problems) != 0 {
		t.Errorf("problems %q", problems)
	}
	bad := `{"templating": {"list": [{"type": "query", "name": "x", "query": "up{job=\"a\"}"}]}}`
	if _, err := dashboardQueries([]byte(bad)); err == nil {
		t.Error("a query variable of an unknown form was accepted")
	}
	wrongLabel := []query{{where: "v", expr: "templated_ready", label: "template"}}
	if problems, _ := checkDashboard(wrongLabel, exported(t)); len(problems) != 1 {
		t.Errorf("label_values(templated_ready, template): problems %q", problems)
	}
}
