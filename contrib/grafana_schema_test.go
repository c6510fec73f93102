package contrib

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// grafanaStrict reads a dashboard with the types Grafana's foundation SDK
// generates from Grafana's own schema, strictly: a field the schema does
// not know, a required one missing or a value of the wrong type is an
// error, as is a dashboard the schema's Validate refuses.
func grafanaStrict(data []byte) error {
	// The panel and query types (stat, bargauge, table, timeseries,
	// prometheus, ...) are read by the variants the SDK registers here.
	plugins.RegisterDefaultPlugins()
	var d dashboard.Dashboard
	err := d.UnmarshalJSONStrict(data)
	// The SDK returns its error list as a typed nil when it is empty.
	var errs cog.BuildErrors
	if errors.As(err, &errs) && len(errs) == 0 {
		err = nil
	}
	if err != nil {
		return err
	}
	return d.Validate()
}

// TestDashboardGrafanaSchema: the dashboard is one Grafana's schema
// accepts (strict): every panel's options are the ones its panel type
// has, with the fields Grafana itself exports.
func TestDashboardGrafanaSchema(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := grafanaStrict(data); err != nil {
		t.Fatalf("%s against Grafana's schema:\n%v", dashboardFile, err)
	}
}

// TestDashboardGrafanaSchemaRefuses: the strict reading catches a
// misspelt panel option and an unknown top-level field, so the test
// above can fail.
func TestDashboardGrafanaSchemaRefuses(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var stat map[string]any
	for _, p := range doc["panels"].([]any) {
		if p := p.(map[string]any); p["type"] == "stat" {
			stat = p["options"].(map[string]any)
			break
		}
	}
	if stat == nil {
		t.Fatal("no stat panel in the dashboard")
	}
	stat["colourMode"] = stat["colorMode"]
	delete(stat, "colorMode")
	doc["refreshh"] = "1m"
	bad, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	err = grafanaStrict(bad)
	if err == nil {
		t.Fatal("a misspelt option and field were accepted")
	}
	for _, want := range []string{"colourMode", "refreshh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
}
