package daemon

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"templated/internal/state"
)

func TestNextRebuild(t *testing.T) {
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	monthly, err := cron.ParseStandard("0 3 1 * *")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 20, 12, 0, 0, 0, time.UTC)
	patch := time.Date(2026, 7, 1, 3, 0, 0, 0, london) // 02:00 UTC in summer time
	scheduled := state.Template{Schedule: monthly, Location: london, MaxAge: 35 * 24 * time.Hour}
	for _, tc := range []struct {
		name    string
		t       state.Template
		builtAt time.Time
		want    time.Time
	}{
		{"patch tick before max age", scheduled, now.Add(-time.Hour), patch},
		{"max age before the tick", scheduled, now.Add(-34 * 24 * time.Hour), now.Add(-34 * 24 * time.Hour).Add(35 * 24 * time.Hour)},
		{"overdue: in the past", scheduled, now.Add(-40 * 24 * time.Hour), now.Add(-5 * 24 * time.Hour)},
		{"build time unknown: the tick", scheduled, time.Time{}, patch},
		{"max age only", state.Template{MaxAge: 24 * time.Hour}, now.Add(-time.Hour), now.Add(23 * time.Hour)},
		{"neither", state.Template{}, now, time.Time{}},
	} {
		if got := NextRebuild(tc.t, tc.builtAt, now); !got.Equal(tc.want) {
			t.Errorf("%s: NextRebuild = %s, want %s", tc.name, got, tc.want)
		}
	}
}
