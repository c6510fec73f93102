package session

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"templated/internal/daemon"
	"templated/internal/ledger"
	"templated/internal/state"
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

// TestStatusBuiltFrom: status names the images each template was built
// from, by name where the stamp's digest is one the desired entry names
// now, else by digest (a template built from a superseded release).
func TestStatusBuiltFrom(t *testing.T) {
	h := newHarness(t)
	h.set.ImageInterval = -1
	sess := h.open(t)
	h.reconcileOK(t, sess)
	p, err := sess.Plan(context.Background(), h.d)
	if err != nil {
		t.Fatal(err)
	}
	st := DirectStatus(h.d, p, nil, time.Now())
	got := map[string][]string{}
	for _, ts := range st.Templates {
		got[ts.Name] = ts.Images
	}
	noble := state.ImageDigest("sha256:" + h.mirror.Digest(nobleImg))
	if want := []string{"ubuntu-24.04-cloud@" + noble}; !slices.Equal(got["tpl-ubuntu-24.04"], want) || len(got["tpl-win2022"]) != 2 {
		t.Fatalf("built from %v, want %v for tpl-ubuntu-24.04 and two images for tpl-win2022", got, want)
	}
	if _, err := h.mirror.Publish(nobleImg, "20261205"); err != nil {
		t.Fatal(err)
	}
	if p, err = sess.Plan(context.Background(), h.d); err != nil {
		t.Fatal(err)
	}
	for _, ts := range DirectStatus(h.d, p, nil, time.Now()).Templates {
		if ts.Name == "tpl-ubuntu-24.04" && !slices.Equal(ts.Images, []string{noble}) {
			t.Fatalf("after a new release: %v, want the old digest alone", ts.Images)
		}
	}
}
