package reconcile

import (
	"context"
	"io"
	"time"

	"templated/internal/journal"
	"templated/internal/plan"
	"templated/internal/state"
)

// Builder runs Packer for one template, leaving a template at the staging
// VMID. Implementation: builder.Packer (workspace + packer.Runner).
type Builder interface {
	Build(ctx context.Context, req BuildRequest) (BuildResult, error)
}

// BuildRequest is one build.
type BuildRequest struct {
	Template    state.Template
	InputsHash  string
	BuildID     string
	StagingVMID int
	StagingName string
	// Description is what Packer sets on the template it makes; templated
	// stamps its own after verifying the result.
	Description string
	// LogPath and ManifestPath are where Packer's log and manifest go: the
	// build's evidence folder.
	LogPath      string
	ManifestPath string
	// Output receives Packer's human output, prefixed per template.
	Output io.Writer
	// Images are the template's images, made present on its node: its
	// image first, then its extra images (empty when it names none). The
	// builder passes their volumes to Packer in place of the var file's
	// iso_filename, iso_checksum and extra_iso_files.
	Images []state.ResolvedImage
	// Base is the base VM's name a clone build starts from when its image
	// is a cloud image ("" keeps the var file's clone_vm).
	Base string
}

// BuildResult is what a successful build reports.
type BuildResult struct {
	ArtifactID    string
	PackerVersion string
	// PluginVersion is the packer-plugin-proxmox version the build ran
	// with ("" when unknown); the stamp carries it.
	PluginVersion string
}

// Recorder writes the executor's records into the evidence ledger.
// Implementation: session's adapter over ledger.Ledger; tests use an
// in-memory one.
type Recorder interface {
	// BuildStarted opens a build's evidence folder and records its start.
	BuildStarted(ctx context.Context, b BuildRecord) (Evidence, error)
	// Event records one step or outcome outside a build's start and finish
	// (swap steps, cleanup, recovery, rollback, adopt, resume).
	Event(ctx context.Context, ev Event) error
}

// Evidence is an open build evidence folder.
type Evidence interface {
	LogPath() string
	ManifestPath() string
	// Finish seals the folder (checksums, metadata, signed provenance) and
	// records the build's end; buildErr is nil for a success.
	Finish(ctx context.Context, b BuildRecord, buildErr error) error
}

// BuildRecord describes a build for the ledger.
type BuildRecord struct {
	Template      state.Template
	Action        plan.Action
	BuildID       string
	StagingVMID   int
	InputsHash    string
	DesiredSHA256 string
	Started       time.Time
	Finished      time.Time
	Result        string // "success" or "failure"
	Step          journal.Step
	Error         string
	PackerVersion string
	ArtifactID    string
	// SwapWindow is how long the reserved VMID stood empty during the swap.
	SwapWindow time.Duration
	// Images are the images the build used (provenance lists them).
	Images []state.ResolvedImage
}

// Event kinds of the images a run makes present.
const (
	EventImageFetch = "image.fetch" // a node downloaded and verified an image
	EventImageBase  = "image.base"  // a base VM was made from a cloud image
)

// Event is one recorded step or outcome.
type Event struct {
	Kind     string // "swap", "cleanup", "recover", "rollback", "adopt", "resume", EventImage*
	Template string
	// Image and Node name the image and node of an image event.
	Image string
	Node  string
	// Log is the PVE task's log of an image download, kept as evidence.
	Log     []string
	BuildID string
	VMID    int
	Step    journal.Step
	Result  string // "success", "failure", "skipped"
	Detail  string
	Error   string
}
