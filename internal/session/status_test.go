package session

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"templated/internal/daemon"
	"templated/internal/ledger"
)

func TestStatusLastResultFromLedger(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(t.TempDir(), "ledger.key")
	if _, err := ledger.GenerateKey(key, "test"); err != nil {
		t.Fatal(err)
	}
	led, err := ledger.Open(context.Background(), ledger.Options{Dir: dir, KeyFile: key})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []ledger.Entry{
		{Kind: ledger.KindBuildFinished, Template: "tpl-a", BuildID: "b1", Result: "failure", Error: "boom", DurationMS: 1000},
		{Kind: ledger.KindBuildFinished, Template: "tpl-a", BuildID: "b2", Result: "success", DurationMS: 90000},
		{Kind: ledger.KindBuildFinished, Template: "tpl-b", BuildID: "b3", Result: "failure", Error: "verify", DurationMS: 2000},
	} {
		if _, err := led.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	led.Close()
	st := daemon.Status{Templates: []daemon.TemplateStatus{
		{Name: "tpl-a", LastResult: "none"},
		{Name: "tpl-b", LastResult: "success", LastBuildDurationSeconds: 5}, // the daemon knows better
		{Name: "tpl-c", LastResult: "none"},
	}}
	FillFromLedger(&st, dir)
	a, b, c := st.Templates[0], st.Templates[1], st.Templates[2]
	if a.LastResult != "success" || a.LastBuildDurationSeconds != 90 || a.LastError != "" || time.Since(a.LastBuildAt) > time.Minute {
		t.Errorf("tpl-a = %+v, want the newest build.finished", a)
	}
	if b.LastResult != "success" || b.LastBuildDurationSeconds != 5 {
		t.Errorf("tpl-b = %+v, want the daemon's word kept", b)
	}
	if c.LastResult != "none" {
		t.Errorf("tpl-c = %+v", c)
	}
}
