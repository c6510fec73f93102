package session

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"templated/internal/ledger"
	"templated/internal/plan"
	"templated/internal/reconcile"
	"templated/internal/redact"
	"templated/internal/state"
)

// ledgerRecorder writes a session's records into the evidence ledger, with
// the context an auditor needs: git commit, CI run, tool versions. It is
// the reconcile.Recorder of the executor.
type ledgerRecorder struct {
	l        *ledger.Ledger
	desired  string // the desired file's path, as given
	git      *ledger.Git
	ci       ledger.CI
	versions ledger.Versions
}

var _ reconcile.Recorder = (*ledgerRecorder)(nil)

// newLedgerRecorder gathers the run's context once: the fetched revision
// the desired state came from, or the working copy's commit.
func newLedgerRecorder(ctx context.Context, l *ledger.Ledger, desiredPath string, d *state.Desired, versions ledger.Versions, getenv func(string) string) *ledgerRecorder {
	git := RevisionGit(d.Revision)
	if git == nil {
		git, _ = ledger.DetectGit(ctx, filepath.Dir(desiredPath))
	}
	return &ledgerRecorder{l: l, desired: desiredPath, git: git, ci: ledger.DetectCI(getenv), versions: versions}
}

func (r *ledgerRecorder) commit() string {
	if r.git == nil {
		return "unknown"
	}
	if r.git.Dirty {
		return r.git.Commit + "-dirty"
	}
	return r.git.Commit
}

// decision records a plan: one that led to action, one declined at the
// confirmation, or a check that found nothing to do.
func (r *ledgerRecorder) decision(ctx context.Context, d *state.Desired, p plan.Plan, trigger string, declined bool) error {
	e := ledger.Entry{Kind: ledger.KindDecision, Desired: &ledger.Desired{File: r.desired, SHA256: d.SHA256},
		Git: r.git, CI: &r.ci, Versions: &r.versions, Reason: &ledger.Reason{Code: "plan", Detail: trigger}}
	for _, a := range p.Actions {
		e.Plan = append(e.Plan, ledger.Action{Template: a.Template, Action: string(a.Kind), Reason: reasonText(a)})
	}
	switch {
	case !p.HasChanges():
		e.Result = "nothing-to-do"
	case declined:
		e.Result = fmt.Sprintf("declined: %d create, %d rebuild", p.Summary.Create, p.Summary.Rebuild)
	default:
		e.Result = fmt.Sprintf("%d create, %d rebuild", p.Summary.Create, p.Summary.Rebuild)
	}
	_, err := r.l.Append(ctx, e)
	return err
}

func reasonText(a plan.Action) string {
	var parts []string
	for _, x := range a.Reasons {
		parts = append(parts, x.Code)
	}
	return strings.Join(parts, ",")
}

func (r *ledgerRecorder) BuildStarted(ctx context.Context, b reconcile.BuildRecord) (reconcile.Evidence, error) {
	ev, err := r.l.NewBuild(b.Template.Name, b.BuildID)
	if err != nil {
		return nil, err
	}
	e := r.buildEntry(ledger.KindBuildStarted, b)
	if _, err := r.l.Append(ctx, e); err != nil {
		return nil, err
	}
	return &evidence{r: r, ev: ev}, nil
}

func (r *ledgerRecorder) buildEntry(kind ledger.Kind, b reconcile.BuildRecord) ledger.Entry {
	entry, _ := json.Marshal(desiredEntry(b.Template))
	return ledger.Entry{Kind: kind, Template: b.Template.Name, BuildID: b.BuildID,
		Reason:  &ledger.Reason{Code: firstReason(b.Action), Detail: reasonText(b.Action)},
		Desired: &ledger.Desired{File: r.desired, SHA256: b.DesiredSHA256, Entry: entry},
		Release: b.Action.Release, InputsSHA256: b.InputsHash, Git: r.git, CI: &r.ci, Versions: &r.versions,
		Proxmox:   &ledger.Proxmox{Node: b.Template.Node, ReservedVMID: b.Template.VMID, StagingVMID: b.StagingVMID},
		StartedAt: b.Started.UTC().Format(time.RFC3339), Images: ledgerImages(b.Images)}
}

// ledgerImages describes the images a build started from for the ledger
// and the provenance: upstream URL without credentials, digest, volume.
func ledgerImages(rs []state.ResolvedImage) []ledger.Image {
	var out []ledger.Image
	for _, r := range rs {
		out = append(out, ledger.Image{Name: r.Name, URI: safeURL(r.URL), File: r.File,
			Digest: map[string]string{r.Algorithm(): r.Digest()}, Volume: r.VolumeID(), ChecksumURL: safeURL(r.SumsURL)})
	}
	return out
}

// safeURL is raw without user info and query ("" stays "").
func safeURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return redact.URL(u)
}

func firstReason(a plan.Action) string {
	if len(a.Reasons) == 0 {
		return "manual"
	}
	return a.Reasons[0].Code
}

// desiredEntry is the part of a template's desired entry the ledger keeps.
func desiredEntry(t state.Template) map[string]any {
	rel := ""
	if t.Release != nil {
		rel = t.Release.String()
	}
	return map[string]any{
		"name": t.Name, "vmid": t.VMID, "os": t.OS, "os_version": t.OSVersion, "release": rel,
		"packer": t.Packer, "var_file": t.VarFile, "build": t.Build, "node": t.Node, "storage": t.Storage,
		"iso_storage": t.ISOStorage, "cores": t.Cores, "memory": t.MemoryMiB, "disk_gb": t.DiskGB,
		"max_age": t.MaxAge.String(), "patch_schedule": t.PatchSchedule, "timezone": t.Timezone,
		"keep_previous": t.KeepPrevious, "build_timeout": t.BuildTimeout.String(),
	}
}

func (r *ledgerRecorder) Event(ctx context.Context, ev reconcile.Event) error {
	if ev.Kind == "recover" && ev.BuildID != "" {
		// A crash mid-build leaves the folder unsealed, with Packer's raw
		// log: redact it now that the build is being recovered.
		if _, err := r.l.RedactUnsealed(ev.Template, ev.BuildID); err != nil {
			return fmt.Errorf("record recovery of %s: %w", ev.Template, err)
		}
	}
	e := ledger.Entry{Kind: ledger.Kind(ev.Kind), Template: ev.Template, BuildID: ev.BuildID, Step: string(ev.Step),
		Result: ev.Result, Error: redact.Bound(ev.Error, redact.MaxErrorText)}
	e.Detail = map[string]string{}
	for k, v := range map[string]string{"detail": ev.Detail, "image": ev.Image, "node": ev.Node} {
		if v != "" {
			e.Detail[k] = redact.Bound(v, redact.MaxErrorText)
		}
	}
	if ev.VMID != 0 {
		e.Detail["vmid"] = fmt.Sprint(ev.VMID)
	}
	if len(ev.Log) > 0 {
		// The node's task log is the download's evidence: what it fetched,
		// from where, and what the checksum check said.
		e.Detail["task_log"] = taskLog(ev.Log)
	}
	if len(e.Detail) == 0 {
		e.Detail = nil
	}
	_, err := r.l.Append(ctx, e)
	return err
}

// maxTaskLog bounds the task log kept in a ledger entry: its head and
// tail, where a download's source, size and verdict are.
const maxTaskLog = 16 << 10

func taskLog(lines []string) string {
	s := strings.Join(lines, "\n")
	if len(s) <= maxTaskLog {
		return s
	}
	return s[:maxTaskLog/2] + "\n[… " + fmt.Sprint(len(s)-maxTaskLog) + " bytes left out …]\n" + s[len(s)-maxTaskLog/2:]
}

// evidence is one build's open evidence folder.
type evidence struct {
	r  *ledgerRecorder
	ev *ledger.BuildEvidence
}

func (e *evidence) LogPath() string      { return e.ev.LogPath }
func (e *evidence) ManifestPath() string { return e.ev.ManifestPath }

func (e *evidence) Finish(ctx context.Context, b reconcile.BuildRecord, buildErr error) error {
	base := e.r.buildEntry(ledger.KindBuildFinished, b)
	info := ledger.BuildInfo{Result: b.Result, Reason: base.Reason, Desired: base.Desired, Release: base.Release,
		InputsSHA256: b.InputsHash, Git: e.r.git, CI: &e.r.ci, Versions: &e.r.versions, Proxmox: base.Proxmox,
		StartedAt: b.Started, FinishedAt: b.Finished, Images: base.Images}
	if buildErr != nil {
		info.Error = redact.Bound(buildErr.Error(), redact.MaxErrorText)
	}
	entry, err := e.ev.Finish(ctx, info)
	if err != nil {
		return fmt.Errorf("seal evidence %s: %w", e.ev.Dir, err)
	}
	if b.Step != "" {
		entry.Step = string(b.Step)
	}
	if b.SwapWindow > 0 {
		entry.Detail = map[string]string{"swap_window_ms": fmt.Sprint(b.SwapWindow.Milliseconds())}
	}
	_, err = e.r.l.Append(ctx, entry)
	return err
}
