package ledger

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fixture is a ledger directory with its key, outside the evidence tree.
type fixture struct {
	dir, keyFile, vkey string
	now                time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	base := t.TempDir()
	f := &fixture{dir: filepath.Join(base, "evidence"), keyFile: filepath.Join(base, "keys", KeyFileName),
		now: time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)}
	vkey, err := GenerateKey(f.keyFile, "templated.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	f.vkey = vkey
	if err := Init(f.dir, vkey); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) clock() time.Time {
	f.now = f.now.Add(time.Second)
	return f.now
}

func (f *fixture) open(t testing.TB) *Ledger {
	t.Helper()
	l, err := Open(context.Background(), Options{Dir: f.dir, KeyFile: f.keyFile, Clock: f.clock, BuilderID: "urn:templated:builder:test"})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

func (f *fixture) verify(t testing.TB, extra ...TrustedCheckpoint) *Report {
	t.Helper()
	r, err := Verify(context.Background(), VerifyOptions{Dir: f.dir, VerifierKeys: []string{f.vkey}, TrustedCheckpoints: extra})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return r
}

func (f *fixture) path(elem ...string) string {
	return filepath.Join(append([]string{f.dir}, elem...)...)
}

func mustAppend(t testing.TB, l *Ledger, e Entry) uint64 {
	t.Helper()
	seq, err := l.Append(context.Background(), e)
	if err != nil {
		t.Fatalf("append %s: %v", e.Kind, err)
	}
	return seq
}

var testDesired = &Desired{File: "desired/templates.yaml", SHA256: sha("desired")}

func sha(s string) string {
	const hexd = "0123456789abcdef"
	b := make([]byte, 64)
	for i := range b {
		b[i] = hexd[(int(s[i%len(s)])+i)%16]
	}
	return string(b)
}

// addBuild runs one build's evidence through NewBuild, Finish and Append.
func addBuild(t testing.TB, l *Ledger, template, buildID, result string, manifest bool) Entry {
	t.Helper()
	ctx := context.Background()
	mustAppend(t, l, Entry{Kind: KindBuildStarted, Template: template, BuildID: buildID,
		Reason: &Reason{Code: "inputs-changed"}})
	b, err := l.NewBuild(template, buildID)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.LogPath, []byte("==> proxmox-iso: Creating VM\n==> Builds finished\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if manifest {
		m := `{"builds":[{"name":"ubuntu","builder_type":"proxmox-iso","artifact_id":"9001","packer_run_uuid":"u-1","custom_data":{"build_id":"` + buildID + `"}}],"last_run_uuid":"u-1"}` + "\n"
		if err := os.WriteFile(b.ManifestPath, []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := l.opts.Clock()
	e, err := b.Finish(ctx, BuildInfo{
		Result: result, Reason: &Reason{Code: "inputs-changed", Detail: "packer/linux changed"},
		Desired: &Desired{File: "desired/templates.yaml", SHA256: sha("desired"), Entry: []byte(`{"name":"` + template + `","vmid":9001}`)},
		Release: "2025.05.1", InputsSHA256: sha("inputs"),
		Git:       &Git{Repo: "https://git.example.org/infra/images", Commit: "7fd1a60b01f91b314f59955a4e4d4e80d8edf11d", Dirty: false},
		CI:        &CI{System: "jenkins", URL: "https://jenkins.example.org/job/templated/12/", BuildTag: "jenkins-templated-12"},
		Versions:  &Versions{Templated: "0.1.0", Packer: "1.11.2", Plugins: map[string]string{"proxmox": "1.1.1"}},
		Proxmox:   &Proxmox{Node: "pve1", ReservedVMID: 9001, StagingVMID: 9901},
		StartedAt: start, FinishedAt: start.Add(90 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, e)
	return e
}

// populate writes a small, realistic ledger: decisions, two builds (one
// failed without a manifest), a rejected desired file, a swap step.
func populate(t testing.TB, f *fixture) {
	t.Helper()
	l := f.open(t)
	defer l.Close()
	git := &Git{Commit: "7fd1a60b01f91b314f59955a4e4d4e80d8edf11d"}
	mustAppend(t, l, Entry{Kind: KindDecision, Desired: testDesired, Git: git, CI: &CI{System: "none"},
		Reason: &Reason{Code: "file-change"},
		Plan: []Action{{Template: "tpl-ubuntu-24.04", Action: "rebuild", Reason: "inputs changed"},
			{Template: "tpl-rocky-9", Action: "rebuild", Reason: "max age"}}})
	addBuild(t, l, "tpl-ubuntu-24.04", "b1", "success", true)
	mustAppend(t, l, Entry{Kind: KindSwap, Template: "tpl-ubuntu-24.04", BuildID: "b1", Result: "success",
		Proxmox: &Proxmox{Node: "pve1", ReservedVMID: 9001, StagingVMID: 9901, PreviousVMID: 9501}})
	addBuild(t, l, "tpl-rocky-9", "b2", "failure", false)
	mustAppend(t, l, Entry{Kind: KindDesiredRejected, Desired: testDesired, Error: "templates[2].vmid: duplicate 9001"})
	mustAppend(t, l, Entry{Kind: KindDecision, Desired: testDesired, Git: git, Reason: &Reason{Code: "up-to-date", Detail: "scheduled check: nothing to do"}})
}
