package daemon

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"templated/internal/state"
)

// recAnnouncer records announcements.
type recAnnouncer struct {
	mu  sync.Mutex
	got []Announcement
}

func (r *recAnnouncer) Announce(_ context.Context, a Announcement) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, a)
}

func (r *recAnnouncer) kinds(template string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, a := range r.got {
		if a.Template == template {
			out = append(out, a.Kind)
		}
	}
	return out
}

// TestAnnounceRuns: each failed build is announced with its build id and
// error, the suspension after the third, then a success; the other
// template's unchanged runs announce nothing.
func TestAnnounceRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ann := &recAnnouncer{}
		h := newHarness(t, func(o *Options) { o.FailureLimit = 3; o.Announcer = ann }, tplA, tplB)
		fail := failBuilds("tpl-a")
		h.rec.setFn(func(ctx context.Context, req Request) (Outcome, error) {
			out, err := fail(ctx, req)
			for i := range out.Templates {
				if out.Templates[i].Build == BuildFailure {
					out.Templates[i].BuildID = "b1"
				}
			}
			return out, err
		})
		h.start()
		synctest.Wait()
		h.sighup()
		synctest.Wait()
		h.sighup()
		synctest.Wait()
		want := []string{state.NotifyBuildFailed, state.NotifyBuildFailed, state.NotifyBuildFailed, state.NotifySuspended}
		if got := ann.kinds("tpl-a"); !slices.Equal(got, want) {
			t.Fatalf("announced for tpl-a: %v, want %v", got, want)
		}
		if a := ann.got[0]; a.BuildID != "b1" || a.Message != "packer exited 1" {
			t.Fatalf("failure announced as %+v", a)
		}
		if got := ann.kinds("tpl-b"); len(got) != 0 {
			t.Fatalf("announced for the unchanged tpl-b: %v", got)
		}
		h.rec.setFn(func(_ context.Context, req Request) (Outcome, error) {
			req.Observed()
			out := keepAll(req)
			for i := range out.Templates {
				if out.Templates[i].Name == "tpl-a" {
					out.Templates[i].Action, out.Templates[i].Build, out.Templates[i].BuildID = ActionRebuild, BuildSuccess, "b2"
				}
			}
			return out, nil
		})
		writeDesired(t, h.path, testTemplate{Name: "tpl-a", VMID: 9000, Cores: 4}, tplB) // releases the suspension
		h.change()
		time.Sleep(time.Second)
		synctest.Wait()
		if got := ann.kinds("tpl-a"); len(got) != 5 || got[4] != state.NotifyBuildSucceeded {
			t.Fatalf("announced for tpl-a after the fix: %v", got)
		}
		h.stop()
	})
}

// TestAnnounceStaleAndImages: a template older than its max_age that a
// run did not rebuild is announced stale; an image-updated reason is
// announced; a rebuilt one is not stale.
func TestAnnounceStaleAndImages(t *testing.T) {
	ann := &recAnnouncer{}
	d := &Daemon{opts: Options{Announcer: ann}}
	path := filepath.Join(t.TempDir(), "templates.json")
	writeDesired(t, path, tplA, tplB)
	des, err := loadTestDesired(path)
	if err != nil {
		t.Fatal(err)
	}
	des.Templates[0].MaxAge, des.Templates[1].MaxAge = 24*time.Hour, 24*time.Hour
	des.Templates[1].Node, des.Templates[1].Replicas = "pve1", []state.Replica{{Name: "tpl-b-pve2", Node: "pve2", VMID: 9201}}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	out := Outcome{Templates: []TemplateOutcome{
		{Name: "tpl-a", Action: ActionBlocked, Reason: "held by rollback", BuiltAt: now.Add(-48 * time.Hour),
			Release: "1.1.0", BuiltRelease: "1.0.0"},
		{Name: "tpl-b", Action: ActionRebuild, Build: BuildSuccess, BuildID: "b9", BuiltAt: now.Add(-48 * time.Hour),
			ReasonCodes: []string{ReasonImageUpdated}, Reason: "image ubuntu-24.04-cloud has a new release"},
	}}
	d.announceRun(context.Background(), des, out, nil, now)
	if got := ann.kinds("tpl-a"); !slices.Equal(got, []string{state.NotifyStale}) {
		t.Fatalf("tpl-a: %v", got)
	}
	// The stale template is the one at the VMID: its release, not the
	// desired one the blocked rebuild would make.
	if a := ann.got[0]; a.Release != "1.0.0" {
		t.Errorf("stale tpl-a announced with release %q, want the built 1.0.0", a.Release)
	}
	if got := ann.kinds("tpl-b"); !slices.Equal(got, []string{state.NotifyBuildSucceeded, state.NotifyImageUpdated}) {
		t.Fatalf("tpl-b: %v", got)
	}
	// A build is announced with the nodes that hold the template: its
	// own, then its replicas'.
	for _, a := range ann.got {
		if a.Kind == state.NotifyBuildSucceeded && !slices.Equal(a.Nodes, []string{"pve1", "pve2"}) {
			t.Errorf("tpl-b's build announced with nodes %v, want [pve1 pve2]", a.Nodes)
		}
	}
}

// TestAnnounceAudit: a tampered ledger and a failed witness requirement
// are announced as different kinds; an intact one is not.
func TestAnnounceAudit(t *testing.T) {
	ann := &recAnnouncer{}
	d := &Daemon{opts: Options{Announcer: ann}}
	for _, r := range []AuditResult{{Status: "intact", Intact: true}, {Status: "tampered", Findings: 2, First: "entry 7: signature"},
		{Status: "unwitnessed", Findings: 1, First: "witness w1 disagrees"}} {
		d.announceAudit(context.Background(), r)
	}
	if got := ann.kinds(""); !slices.Equal(got, []string{state.NotifyLedgerFailed, state.NotifyWitnessDisagrees}) {
		t.Fatalf("announced %v", got)
	}
}
