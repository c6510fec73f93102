package contrib

import (
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

const (
	alertsFile = "prometheus/alerts.yaml"
	alertsDoc  = "../docs/alerts.md"
	// runbookPrefix starts every runbook_url: the section of docs/alerts.md
	// named after the alert follows.
	runbookPrefix = "https://github.com/OWNER/templated/blob/main/docs/alerts.md#"
)

// requiredAlerts are the alerts issue 16 asks for.
var requiredAlerts = []string{"TemplatedDown", "TemplatedNotReady", "TemplatedBuildsFailing", "TemplatedTemplateSuspended",
	"TemplatedTemplateStale", "TemplatedOutdatedClones", "TemplatedLedgerVerifyFailing", "TemplatedReconcileFailing",
	"TemplatedProxmoxUnreachable", "TemplatedDesiredRejected"}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parseRules parses rules as Prometheus does when it loads a rule file.
func parseRules(data []byte) (*rulefmt.RuleGroups, error) {
	groups, errs := rulefmt.Parse(data, false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		var msgs []string
		for _, err := range errs {
			msgs = append(msgs, err.Error())
		}
		return nil, fmt.Errorf("rules: %s", strings.Join(msgs, "; "))
	}
	return groups, nil
}

// checkRules returns the problems of every rule ("Alert: problem") and
// the metrics the rules use.
func checkRules(groups *rulefmt.RuleGroups, c catalog, anchors []string) (problems, used []string) {
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			p, u, err := c.check(r.Expr)
			if err != nil {
				p = append(p, err.Error())
			}
			if r.Alert != "" {
				p = append(p, checkAlert(r, anchors)...)
			}
			for _, x := range p {
				problems = append(problems, name+": "+x)
			}
			used = append(used, u...)
		}
	}
	return problems, used
}

// checkAlert holds an alert to the conventions: a severity, a summary, a
// description, and a runbook_url to its own section of docs/alerts.md.
func checkAlert(r rulefmt.Rule, anchors []string) []string {
	var p []string
	if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
		p = append(p, fmt.Sprintf("severity %q, want critical, warning or info", s))
	}
	for _, a := range []string{"summary", "description"} {
		if strings.TrimSpace(r.Annotations[a]) == "" {
			p = append(p, "no "+a)
		}
	}
	want := runbookPrefix + slug(r.Alert)
	switch url := r.Annotations["runbook_url"]; {
	case url != want:
		p = append(p, fmt.Sprintf("runbook_url %q, want %q", url, want))
	case !slices.Contains(anchors, slug(r.Alert)):
		p = append(p, fmt.Sprintf("no section %q in docs/alerts.md", r.Alert))
	}
	return p
}

var (
	headingLine = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
	notInSlug   = regexp.MustCompile(`[^\p{L}\p{N}\- _]`)
)

// anchors are the anchors of a Markdown file's headings, as GitHub makes
// them (code blocks are not skipped: the docs here keep no "#" lines in
// them at the start of a line).
func anchors(md string) []string {
	var out []string
	for _, m := range headingLine.FindAllStringSubmatch(md, -1) {
		out = append(out, slug(m[1]))
	}
	return out
}

// slug is GitHub's anchor of a heading: lower case, punctuation dropped,
// spaces as hyphens.
func slug(heading string) string {
	return strings.ReplaceAll(notInSlug.ReplaceAllString(strings.ToLower(heading), ""), " ", "-")
}

// TestAlertRules: Prometheus loads the rules; every metric and label they
// name is one templated exports; each alert has a severity, a summary, a
// description and a runbook section; issue 16's alerts are all there.
func TestAlertRules(t *testing.T) {
	groups, err := parseRules(readFile(t, alertsFile))
	if err != nil {
		t.Fatal(err)
	}
	problems, used := checkRules(groups, exported(t), anchors(string(readFile(t, alertsDoc))))
	for _, p := range problems {
		t.Error(p)
	}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
		}
	}
	for _, a := range requiredAlerts {
		if !slices.Contains(alerts, a) {
			t.Errorf("no alert %s", a)
		}
	}
	if !slices.Contains(used, "templated_ready") || !slices.Contains(used, "up") {
		t.Errorf("the rules use %v: the checker saw no selector", used)
	}
}

// TestAlertRulesCatchRenamedMetric: a metric renamed in the code (gone
// from the catalog) or in the rules is named, and nothing else is.
func TestAlertRulesCatchRenamedMetric(t *testing.T) {
	c, data := exported(t), readFile(t, alertsFile)
	ax := anchors(string(readFile(t, alertsDoc)))
	groups, err := parseRules(data)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := checkRules(groups, c.without("templated_template_suspended"), ax)
	want := []string{`TemplatedTemplateSuspended: unknown metric "templated_template_suspended"`}
	if !slices.Equal(got, want) {
		t.Errorf("without templated_template_suspended in the code: %q, want %q", got, want)
	}

	renamed := strings.ReplaceAll(string(data), "templated_ledger_verify_intact", "templated_ledger_intact")
	if renamed == string(data) {
		t.Fatal("the rules do not use templated_ledger_verify_intact")
	}
	if groups, err = parseRules([]byte(renamed)); err != nil {
		t.Fatal(err)
	}
	got, _ = checkRules(groups, c, ax)
	want = []string{`TemplatedLedgerVerifyFailing: unknown metric "templated_ledger_intact"`}
	if !slices.Equal(got, want) {
		t.Errorf("templated_ledger_intact in the rules: %q, want %q", got, want)
	}
}

// TestAlertRulesConventions: a rule without a runbook section, a
// severity or a summary is caught.
func TestAlertRulesConventions(t *testing.T) {
	r := rulefmt.Rule{Alert: "TemplatedNew", Expr: "templated_ready == 0", Labels: map[string]string{"severity": "page"},
		Annotations: map[string]string{"description": "d", "runbook_url": runbookPrefix + "templatednew"}}
	got := checkAlert(r, []string{"templateddown"})
	want := []string{`severity "page", want critical, warning or info`, "no summary", `no section "TemplatedNew" in docs/alerts.md`}
	if !slices.Equal(got, want) {
		t.Errorf("problems %q, want %q", got, want)
	}
}

// TestAlertsDoc: docs/alerts.md has a section for each alert and none
// for an alert that does not exist, and its links lead to files and
// sections that exist.
func TestAlertsDoc(t *testing.T) {
	doc := string(readFile(t, alertsDoc))
	groups, err := parseRules(readFile(t, alertsFile))
	if err != nil {
		t.Fatal(err)
	}
	var alerts []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^## (Templated\w*)`).FindAllStringSubmatch(doc, -1) {
		if !slices.Contains(alerts, m[1]) {
			t.Errorf("docs/alerts.md: section %s names no alert", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`\]\(([^)#]*)(?:#([^)]*))?\)`).FindAllStringSubmatch(doc, -1) {
		file, anchor := m[1], m[2]
		target := doc
		if file != "" {
			b, err := os.ReadFile("../docs/" + file)
			if err != nil {
				t.Errorf("docs/alerts.md links to %s: %v", file, err)
				continue
			}
			target = string(b)
		}
		if anchor != "" && !slices.Contains(anchors(target), anchor) {
			t.Errorf("docs/alerts.md links to %s#%s: no such section", file, anchor)
		}
	}
}
