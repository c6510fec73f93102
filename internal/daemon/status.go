package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"templated/internal/state"
)

// StatusVersion is the version of the /status JSON.
const StatusVersion = 1

// Status is what the running daemon says about itself and the templates
// (GET /status; `templated status`).
type Status struct {
	Version int `json:"version"`
	// State is starting, waiting (no valid desired file yet), reconciling,
	// idle, backoff, stopping or stopped.
	State string `json:"state"`
	// Message is the STATUS= line.
	Message         string    `json:"message"`
	Ready           bool      `json:"ready"`
	Now             time.Time `json:"now"`
	LastObservation time.Time `json:"last_observation,omitzero"`
	// NextRetry is when the next attempt is due while Proxmox is
	// unreachable.
	NextRetry time.Time     `json:"next_retry,omitzero"`
	Desired   DesiredStatus `json:"desired"`
	// Git is the git remote the desired state is fetched from (absent for
	// a working copy).
	Git     *GitStatus `json:"git,omitempty"`
	LastRun *RunStatus `json:"last_run,omitempty"`
	// LedgerAudit is the last full check of the evidence ledger.
	LedgerAudit *AuditResult `json:"ledger_audit,omitempty"`
	// LedgerCheckpoint is the evidence ledger's newest checkpoint.
	LedgerCheckpoint *CheckpointStatus `json:"ledger_checkpoint,omitempty"`
	Templates        []TemplateStatus  `json:"templates"`
}

// CheckpointStatus is the evidence ledger's newest signed checkpoint.
type CheckpointStatus struct {
	// Size is how many entries it seals.
	Size int64 `json:"size"`
	// RootHash is the tree's root hash, base64 as in the checkpoint's
	// third line.
	RootHash string `json:"root_hash"`
	// At is when the last entry it seals was written (zero: unknown).
	At time.Time `json:"at,omitzero"`
}

// DesiredStatus is the desired state in force.
type DesiredStatus struct {
	Path     string    `json:"path"`
	SHA256   string    `json:"sha256"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	// Rejected is the newest content that failed validation, while it is
	// still what the file holds.
	Rejected *Rejection `json:"rejected,omitempty"`
}

// GitStatus is the followed git remote: the revision in force and the
// last fetch. URLs carry no credentials.
type GitStatus struct {
	URL      string `json:"url"`
	Ref      string `json:"ref"`
	Revision string `json:"revision,omitempty"`
	Resolved string `json:"resolved,omitempty"`
	Signer   string `json:"signer,omitempty"`
	// CommittedAt is the revision's commit time, FetchedAt when the fetch
	// that brought it finished.
	CommittedAt time.Time `json:"committed_at,omitzero"`
	FetchedAt   time.Time `json:"fetched_at,omitzero"`
	// LastFetch is the newest fetch attempt, LastFetchOK its result.
	LastFetch           time.Time `json:"last_fetch,omitzero"`
	LastFetchOK         bool      `json:"last_fetch_ok"`
	LastError           string    `json:"last_error,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures,omitempty"`
	// Refused is the newest fetched revision not put in force, while it
	// is still the remote's head.
	Refused *GitRefusal `json:"refused,omitempty"`
}

// GitRefusal is a fetched revision that was refused, and why.
type GitRefusal struct {
	Commit string `json:"commit"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// Rejection is a desired file that was not put in force.
type Rejection struct {
	SHA256 string    `json:"sha256"`
	Error  string    `json:"error"`
	At     time.Time `json:"at"`
}

// RunStatus is the last reconcile.
type RunStatus struct {
	Trigger         string    `json:"trigger"`
	Started         time.Time `json:"started"`
	DurationSeconds float64   `json:"duration_seconds"`
	// Result is success, failure, unreachable or canceled.
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

// TemplateStatus is one desired template.
type TemplateStatus struct {
	Name string `json:"name"`
	VMID int    `json:"vmid"`
	// Release is the desired release; BuiltRelease the release of the
	// template at its VMID, which differs while a rebuild is pending or
	// has failed ("" when unknown).
	Release      string    `json:"release"`
	BuiltRelease string    `json:"built_release,omitempty"`
	BuiltAt      time.Time `json:"built_at,omitzero"`
	// AgeSeconds is the age of the template at its VMID (0 if unknown).
	AgeSeconds float64 `json:"age_seconds,omitempty"`
	// Action is what the last run decided ("" before the first run).
	Action string `json:"action,omitempty"`
	Reason string `json:"reason,omitempty"`
	Drift  string `json:"drift,omitempty"`
	// LastResult is the result of the last build the daemon saw: success,
	// failure, or none.
	LastResult               string    `json:"last_result"`
	LastBuildAt              time.Time `json:"last_build_at,omitzero"`
	LastBuildDurationSeconds float64   `json:"last_build_duration_seconds,omitempty"`
	LastBuildID              string    `json:"last_build_id,omitempty"`
	LastError                string    `json:"last_error,omitempty"`
	NextRebuild              time.Time `json:"next_rebuild,omitzero"`
	Suspended                bool      `json:"suspended"`
	SuspendReason            string    `json:"suspend_reason,omitempty"`
	ConsecutiveFailedBuilds  int       `json:"consecutive_failed_builds"`
	// Images are the images the template at its VMID was built from
	// ("ubuntu-24.04-cloud@3f1c2e44a1b2").
	Images []string `json:"images,omitempty"`
	// ClonesCurrent and ClonesOutdated count the guests cloned from the
	// template's current build and from older ones (information: the
	// daemon never touches a clone); ClonesOutdatedByAge counts the
	// outdated ones by the age of their build, every bucket present once
	// the cluster was observed (absent before).
	ClonesCurrent       int            `json:"clones_current"`
	ClonesOutdated      int            `json:"clones_outdated"`
	ClonesOutdatedByAge map[string]int `json:"clones_outdated_by_age,omitempty"`
	// Node is the node that keeps the template at VMID, Replicas its
	// copies on other nodes.
	Node     string          `json:"node,omitempty"`
	Replicas []ReplicaStatus `json:"replicas,omitempty"`
}

// ReplicaStatus is one copy of a template on another node, and what the
// last plan made of it (action and reason; release and built-at of the
// build it holds).
type ReplicaStatus struct {
	Name         string    `json:"name"`
	Node         string    `json:"node"`
	VMID         int       `json:"vmid"`
	Action       string    `json:"action,omitempty"`
	Reason       string    `json:"reason,omitempty"`
	BuiltRelease string    `json:"built_release,omitempty"`
	BuiltAt      time.Time `json:"built_at,omitzero"`
}

// SetPlacement copies where t lives: its node and its replicas.
func (ts *TemplateStatus) SetPlacement(t state.Template) {
	ts.Node = t.Node
	for _, r := range t.Replicas {
		ts.Replicas = append(ts.Replicas, ReplicaStatus{Name: r.Name, Node: r.Node, VMID: r.VMID})
	}
}

// CloneCounts counts the guests cloned from one template by the build
// they came from, as a run observed them.
type CloneCounts struct {
	Current  int
	Outdated int
	// OutdatedByAge counts the outdated clones by the age bucket of their
	// build ("lt_30d", "30d_90d", "90d_365d", "gt_365d"), every bucket
	// present, zeros included, so that /metrics keeps its series.
	OutdatedByAge map[string]int
}

// SetClones copies c into the status (nothing for nil).
func (ts *TemplateStatus) SetClones(c *CloneCounts) {
	if c == nil {
		return
	}
	ts.ClonesCurrent, ts.ClonesOutdated = c.Current, c.Outdated
	ts.ClonesOutdatedByAge = make(map[string]int, len(c.OutdatedByAge))
	for k, v := range c.OutdatedByAge {
		ts.ClonesOutdatedByAge[k] = v
	}
}

// Status returns a snapshot of the daemon's state, with the ledger's
// newest checkpoint.
func (d *Daemon) Status() Status {
	s := d.snapshot()
	if d.opts.Checkpoint != nil {
		s.LedgerCheckpoint = d.opts.Checkpoint()
	}
	return s
}

// snapshot is Status without the ledger's checkpoint, which takes the
// ledger's lock and reads its file: the metrics do without it.
func (d *Daemon) snapshot() Status {
	now := time.Now()
	ready, _ := d.ready(now)
	des := d.desired.Load()
	d.mu.Lock()
	defer d.mu.Unlock()
	s := Status{
		Version:         StatusVersion,
		State:           d.v.phase,
		Message:         d.v.message,
		Ready:           ready,
		Now:             now,
		LastObservation: d.v.lastObserved,
		NextRetry:       d.v.nextRetry,
		Desired:         DesiredStatus{Path: d.opts.DesiredPath, LoadedAt: d.v.loadedAt},
		Templates:       []TemplateStatus{},
	}
	if d.opts.Git != nil {
		s.Git = d.opts.Git()
	}
	if d.v.lastRun != nil {
		lr := *d.v.lastRun
		s.LastRun = &lr
	}
	if d.v.rejected != nil {
		r := *d.v.rejected
		s.Desired.Rejected = &r
	}
	if d.v.audit != nil {
		a := *d.v.audit
		s.LedgerAudit = &a
	}
	if des == nil {
		return s
	}
	s.Desired.SHA256 = des.SHA256
	for _, t := range des.Templates {
		ts := TemplateStatus{Name: t.Name, VMID: t.VMID, LastResult: string(BuildNone)}
		ts.SetPlacement(t)
		if t.Release != nil {
			ts.Release = t.Release.String()
		}
		if tv := d.v.templates[t.Name]; tv != nil {
			o := tv.last
			ts.BuiltAt, ts.BuiltRelease, ts.Action, ts.Reason, ts.Drift = o.BuiltAt, o.BuiltRelease, string(o.Action), o.Reason, o.Drift
			ts.Images = o.Images
			ts.SetClones(o.Clones)
			if !o.BuiltAt.IsZero() {
				ts.AgeSeconds = now.Sub(o.BuiltAt).Seconds()
			}
			ts.NextRebuild = o.NextRebuild
			if tv.lastBuildSeen {
				ts.LastResult, ts.LastBuildAt = string(tv.lastBuild), tv.lastBuildAt
				ts.LastBuildDurationSeconds, ts.LastError = tv.lastBuildDur.Seconds(), tv.lastBuildErr
				ts.LastBuildID = tv.lastBuildID
			}
		}
		for i, r := range ts.Replicas {
			if tv := d.v.templates[r.Name]; tv != nil {
				r := &ts.Replicas[i]
				r.Action, r.Reason, r.BuiltAt, r.BuiltRelease = string(tv.last.Action), tv.last.Reason, tv.last.BuiltAt, tv.last.BuiltRelease
			}
		}
		if ts.NextRebuild.IsZero() {
			ts.NextRebuild = NextRebuild(t, ts.BuiltAt, now)
		}
		if e, ok := d.v.suspensions[t.Name]; ok {
			ts.Suspended, ts.SuspendReason, ts.ConsecutiveFailedBuilds = e.Suspended, e.Reason, e.Failures
		}
		s.Templates = append(s.Templates, ts)
	}
	return s
}

// FetchStatus asks the daemon listening on addr ("127.0.0.1:9750", or a
// URL "http://127.0.0.1:9750") for its status.
func FetchStatus(ctx context.Context, addr string) (Status, error) {
	base := addr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/status", nil)
	if err != nil {
		return Status{}, fmt.Errorf("fetch status: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Status{}, fmt.Errorf("fetch status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Status{}, fmt.Errorf("fetch status: %s: %s", resp.Status, body)
	}
	var s Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return Status{}, fmt.Errorf("fetch status: decode: %w", err)
	}
	return s, nil
}
