package gitsource

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

func TestFirstSyncChecksOut(t *testing.T) {
	up := newUpstream(t, t.TempDir())
	up.write("conf/desired/templates.yaml", "templates: []\n", 0o644)
	up.write("conf/packer/build.sh", "#!/bin/sh\necho hi\n", 0o755)
	up.link("conf/desired/alias.yaml", "templates.yaml")
	up.write("README", "not in the path\n", 0o644)
	commit, at := up.commit("first")
	up.push(false)

	h := newHarness(t, up.fileURL(), func(c *Config) { c.Path = "conf" })
	if _, _, ok := h.Snapshot(); ok {
		t.Fatal("Snapshot ok before any sync")
	}
	res := h.mustSync(t)
	if !res.Fetched || !res.Changed || res.Refused != nil {
		t.Fatalf("result = %+v, want fetched and changed", res)
	}
	expect(t, "commit", res.Revision.Commit, commit)
	expect(t, "resolved", res.Revision.Resolved, "refs/heads/main")
	if !res.Revision.CommittedAt.Equal(at) {
		t.Errorf("committed at %v, want %v", res.Revision.CommittedAt, at)
	}

	if fi, err := os.Stat(h.cfg.Dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state directory: %v %v, want mode 0700", fi.Mode(), err)
	}
	root := h.Root()
	expect(t, "Root", root, filepath.Join(h.cfg.Dir, "current", "conf"))
	expect(t, "templates", readFile(t, filepath.Join(root, "desired/templates.yaml")), "templates: []\n")
	expect(t, "alias", readFile(t, filepath.Join(root, "desired/alias.yaml")), "templates: []\n")
	if target, err := os.Readlink(filepath.Join(root, "desired/alias.yaml")); err != nil || target != "templates.yaml" {
		t.Errorf("alias is %q, %v; want a symlink to templates.yaml", target, err)
	}
	for name, want := range map[string]os.FileMode{"packer/build.sh": 0o755, "desired/templates.yaml": 0o644, "desired": 0o755 | os.ModeDir} {
		fi, err := os.Lstat(filepath.Join(root, name))
		must(t, err)
		expect(t, name+" mode", fi.Mode(), want)
	}

	snapRoot, rev, ok := h.Snapshot()
	if !ok || rev.Commit != commit {
		t.Fatalf("Snapshot = %v %v", rev.Commit, ok)
	}
	wantRoot, _ := filepath.EvalSymlinks(filepath.Join(h.cfg.Dir, "checkouts", commit, "conf"))
	expect(t, "Snapshot root", snapRoot, wantRoot)
	select {
	case got := <-h.Changes():
		expect(t, "change", got, root)
	default:
		t.Error("no change after the first acceptance")
	}
	acc := h.rec.byKind("accepted", "first")
	if len(acc) != 1 || acc[0].Revision.Commit != commit || acc[0].Previous != "" {
		t.Errorf("accepted events = %+v", acc)
	}
	expect(t, "accepted_total", metricValue(t, h.m.accepted), 1)
	expect(t, "fetches success", metricValue(t, h.m.fetches.WithLabelValues("success")), 1)
	expect(t, "revision timestamp", metricValue(t, h.m.revTime), float64(at.Unix()))
	expect(t, "revision age", metricValue(t, h.m.revAge), h.cfg.Now().Sub(at).Seconds())
	expect(t, "metric families", families(t, h.reg), []string{
		"templated_git_accepted_total", "templated_git_fetches_total", "templated_git_last_fetch_success",
		"templated_git_last_fetch_timestamp_seconds", "templated_git_revision_age_seconds",
		"templated_git_revision_timestamp_seconds"})
}

func TestNewCommitIsAcceptedAndChangesFires(t *testing.T) {
	up := newUpstream(t, t.TempDir())
	first := up.commitAndPush("a: 1\n")
	h := newHarness(t, up.fileURL(), nil)
	h.mustSync(t)
	<-h.Changes()

	res := h.mustSync(t)
	if res.Changed || res.Revision.Commit != first {
		t.Errorf("unchanged remote: result %+v", res)
	}
	select {
	case <-h.Changes():
		t.Error("a change without a new revision")
	default:
	}

	second := up.commitAndPush("a: 2\n")
	res = h.mustSync(t)
	if !res.Changed || res.Revision.Commit != second {
		t.Fatalf("result %+v, want %s in force", res, second)
	}
	expect(t, "change", <-h.Changes(), h.Root())
	expect(t, "content", readFile(t, filepath.Join(h.Root(), "desired/templates.yaml")), "a: 2\n")
	ev := h.rec.byKind("accepted", "forward")
	if len(ev) != 1 || ev[0].Previous != first || ev[0].Revision.Commit != second {
		t.Errorf("forward events = %+v", ev)
	}
	expect(t, "status current", h.Status().Current.Commit, second)
}

func TestOldCheckoutsArePruned(t *testing.T) {
	up := newUpstream(t, t.TempDir())
	h := newHarness(t, up.fileURL(), nil)
	var commits []string
	for i := range 6 {
		commits = append(commits, up.commitAndPush(string(rune('a'+i))+"\n"))
		h.mustSync(t)
	}
	entries, err := os.ReadDir(filepath.Join(h.cfg.Dir, "checkouts"))
	must(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	expect(t, "kept checkouts", len(got), 4)
	expect(t, "pending changes (never drained)", len(h.Changes()), 1)
	for _, c := range commits[2:] {
		if _, err := os.Stat(filepath.Join(h.cfg.Dir, "checkouts", c)); err != nil {
			t.Errorf("checkout %s removed: %v", c, err)
		}
	}
}

func TestRestartKeepsRevisionInForce(t *testing.T) {
	up := newUpstream(t, t.TempDir())
	first := up.commitAndPush("a: 1\n")
	h := newHarness(t, up.fileURL(), nil)
	h.mustSync(t)

	// The link and the checkout are lost; applied.json is the truth.
	must(t, os.Remove(filepath.Join(h.cfg.Dir, "current")))
	must(t, os.RemoveAll(filepath.Join(h.cfg.Dir, "checkouts", first)))
	leftover := filepath.Join(h.cfg.Dir, "checkouts", first+".tmp-123")
	must(t, os.MkdirAll(leftover, 0o755)) // a crash in the middle of a checkout
	h2 := h.reopen(t)
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an unfinished checkout survived the restart: %v", err)
	}
	root, rev, ok := h2.Snapshot()
	if !ok || rev.Commit != first {
		t.Fatalf("after restart: in force %q %v, want %s", rev.Commit, ok, first)
	}
	expect(t, "content via Root", readFile(t, filepath.Join(h2.Root(), "desired/templates.yaml")), "a: 1\n")
	expect(t, "content via Snapshot", readFile(t, filepath.Join(root, "desired/templates.yaml")), "a: 1\n")
	expect(t, "status current", h2.Status().Current.Commit, first)

	res := h2.mustSync(t)
	if res.Changed {
		t.Error("the revision in force came back as a change after restart")
	}
	second := up.commitAndPush("a: 2\n")
	if res := h2.mustSync(t); !res.Changed || res.Revision.Commit != second {
		t.Errorf("after restart: %+v", res)
	}
	if ev := h2.rec.byKind("accepted", "forward"); len(ev) != 1 || ev[0].Previous != first {
		t.Errorf("events after restart = %+v", ev)
	}
}

func TestKicksCoalesce(t *testing.T) {
	up := newUpstream(t, t.TempDir())
	up.commitAndPush("a: 1\n")
	entered, release := make(chan struct{}), make(chan struct{})
	var validations atomic.Int32
	h := newHarness(t, up.fileURL(), func(c *Config) {
		c.Interval = 1 << 40 // only kicks
		c.Validate = func(ctx context.Context, root string) error {
			if validations.Add(1) == 1 {
				close(entered)
				<-release
			}
			return nil
		}
	})
	synced := make(chan struct{}, 16)
	h.onSynced = func() { synced <- struct{}{} }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()

	<-entered // the first sync is in the middle of its decision
	for range 5 {
		h.Kick()
	}
	close(release)
	<-synced
	<-synced // the five kicks, as one more sync
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
	expect(t, "syncs", 2+len(synced), 2)
	expect(t, "fetches", metricValue(t, h.m.fetches.WithLabelValues("success")), 2)
}

func TestRefusalIsRecordedOnceTheRecorderTakesIt(t *testing.T) {
	up := newUpstream(t, t.TempDir())
	up.commitAndPush("a: 1\n")
	h := newHarness(t, up.fileURL(), func(c *Config) { c.Path = "no/such/dir" })
	h.rec.err = errors.New("ledger unavailable")
	h.mustSync(t)
	h.rec.err = nil
	for range 2 {
		res := h.mustSync(t)
		if res.Refused == nil || res.Refused.Code != RefusedInvalid {
			t.Fatalf("a missing path: %+v", res)
		}
	}
	expect(t, "recorded", len(h.rec.byKind("refused", RefusedInvalid)), 1)
	expect(t, "counted", metricValue(t, h.m.refusals.WithLabelValues(RefusedInvalid)), 1)
	if _, _, ok := h.Snapshot(); ok {
		t.Error("a revision without the configured path was put in force")
	}
}

func TestAcceptanceIsRecordedWhenTheRecorderRecovers(t *testing.T) {
	up := newUpstream(t, t.TempDir())
	first := up.commitAndPush("a: 1\n")
	h := newHarness(t, up.fileURL(), nil)
	h.rec.err = errors.New("ledger unavailable")
	h.mustSync(t)
	second := up.commitAndPush("a: 2\n")
	h.mustSync(t)
	expect(t, "in force while the ledger is down", inForce(t, h.Source), second)
	h.rec.err = nil
	h.mustSync(t)
	h.mustSync(t)
	var got []string
	for _, e := range h.rec.byKind("accepted", "") {
		got = append(got, e.Code+" "+e.Revision.Commit)
	}
	expect(t, "recorded acceptances", got, []string{"first " + first, "forward " + second})
}
