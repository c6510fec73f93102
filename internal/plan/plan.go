package plan

import (
	"time"
)

// FormatVersion is the version of the plan's JSON form (docs/plan-json.md).
// A change that removes or renames a field bumps the major number.
const FormatVersion = "1.1"

// Kind is what the plan will do about one desired template.
type Kind string

const (
	Create  Kind = "create"  // nothing at the reserved VMID: build it
	Rebuild Kind = "rebuild" // drifted or stale: build a new one and swap it in
	Keep    Kind = "keep"    // up to date
	Blocked Kind = "blocked" // templated will not act; the reasons say why
)

// Changes reports whether the action changes the cluster.
func (k Kind) Changes() bool { return k == Create || k == Rebuild }

// Reason codes. Each action carries one or more Reasons; the code is stable
// (for scripts and the ledger), the message is for people.
const (
	ReasonMissing         = "missing"
	ReasonInputsChanged   = "inputs-changed"
	ReasonPluginChanged   = "plugin-changed"
	ReasonReleaseBumped   = "release-bumped"
	ReasonHardwareDrift   = "hardware-drift"
	ReasonMaxAge          = "max-age"
	ReasonPatchDue        = "patch-schedule"
	ReasonUnknownBuild    = "build-time-unknown"
	ReasonUpToDate        = "up-to-date"
	ReasonPlainVM         = "plain-vm"
	ReasonContainer       = "container"
	ReasonUnmanaged       = "unmanaged-template"
	ReasonNameElsewhere   = "name-elsewhere"
	ReasonDuplicateName   = "duplicate-name"
	ReasonOtherName       = "vmid-holds-other-name"
	ReasonDowngrade       = "release-downgrade"
	ReasonSuspended       = "suspended"
	ReasonHeld            = "held"
	ReasonLinkedClones    = "linked-clones"
	ReasonLocked          = "locked"
	ReasonInputsUnknown   = "inputs-unknown"
	ReasonStampUnreadable = "stamp-unreadable"
	ReasonAdopted         = "adopted"
	// ReasonImageUpdated: an image the template is built from resolves
	// to a digest the template was not built from (a new vendor release,
	// or a template built before the image was declared).
	ReasonImageUpdated = "image-updated"
	// ReasonImageUnresolved blocks a wanted build: an image it needs
	// could not be resolved (its checksum file unreachable or without
	// the file).
	ReasonImageUnresolved = "image-unresolved"
	// Replicas: copies of a template's build on the other nodes it names.
	ReasonReplicaMissing  = "replica-missing"  // no replica at the node's VMID: place one
	ReasonReplicaFollows  = "replica-follows"  // the template is built now: its replicas follow
	ReasonReplicaOutdated = "replica-outdated" // the replica holds another build than the template
	ReasonReplicaWaits    = "replica-waits"    // the template is blocked: its replica stays as it is
	ReasonNodeOffline     = "node-offline"     // the replica's node is offline: caught up when it returns
	// Prerequisites a build needs from the cluster (state.Unmet).
	ReasonISOMissing         = "iso-missing"
	ReasonCloneSourceMissing = "clone-source-missing"
	ReasonStorageUnfit       = "storage-unfit"
	ReasonPermissionMissing  = "permission-missing"
)

// Reason is why an action was chosen.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Plan is the result of planning: one action per desired template, in the
// desired file's order, plus the guests in the reserved range that the
// desired file does not name.
type Plan struct {
	FormatVersion string    `json:"format_version"`
	DesiredSHA256 string    `json:"desired_sha256"`
	PlannedAt     time.Time `json:"planned_at"`
	Summary       Summary   `json:"summary"`
	Actions       []Action  `json:"actions"`
	// Images has one entry per desired image, in the desired file's
	// order (empty when the file declares none).
	Images    []ImageAction `json:"images"`
	Unmanaged []Unmanaged   `json:"unmanaged"`
}

// Summary counts the actions by kind.
type Summary struct {
	Create  int `json:"create"`
	Rebuild int `json:"rebuild"`
	Keep    int `json:"keep"`
	Blocked int `json:"blocked"`
}

// Add appends a and counts it in the summary.
func (p *Plan) Add(a Action) {
	switch a.Kind {
	case Create:
		p.Summary.Create++
	case Rebuild:
		p.Summary.Rebuild++
	case Keep:
		p.Summary.Keep++
	case Blocked:
		p.Summary.Blocked++
	}
	p.Actions = append(p.Actions, a)
}

// HasChanges reports whether applying the plan would change the cluster.
func (p Plan) HasChanges() bool { return p.Summary.Create+p.Summary.Rebuild > 0 }

// Action is what will happen to one desired template, and why.
type Action struct {
	Template string `json:"template"`
	// ReplicaOf names the template this action places a replica of
	// (Template is then the replica's name, VMID and Node its own); ""
	// for a template.
	ReplicaOf  string   `json:"replica_of,omitempty"`
	VMID       int      `json:"vmid"`
	Node       string   `json:"node"`
	Kind       Kind     `json:"action"`
	Reasons    []Reason `json:"reasons"`
	Release    string   `json:"release"`
	InputsHash string   `json:"inputs_hash"`
	// Images are the images a build of the template uses, as resolved
	// now (empty for templates that name no image).
	Images []ImageUse `json:"images,omitempty"`
	// Current describes what is at the reserved VMID now (nil if nothing).
	Current *Current `json:"current"`
	// Clones counts the guests cloned from the template's builds, for
	// information: templated never touches a clone (nil when none).
	Clones *Clones `json:"clones,omitempty"`
}

// Clones counts the guests cloned from one template, by the build they
// came from (their inherited stamp).
type Clones struct {
	// Current came from the build at the reserved VMID, Outdated from
	// older builds.
	Current  int `json:"current"`
	Outdated int `json:"outdated"`
	// OutdatedByAge counts the outdated clones by the age of the build
	// they came from: "lt_30d", "30d_90d", "90d_365d", "gt_365d".
	OutdatedByAge map[string]int `json:"outdated_by_age,omitempty"`
	// Oldest is the release of the oldest build an outdated clone came
	// from, and Behind how much older than the current build it is.
	Oldest        string  `json:"oldest_release,omitempty"`
	BehindSeconds float64 `json:"oldest_behind_seconds,omitempty"`
}

// ImageUse is one image a template is, or would be, built from.
type ImageUse struct {
	Name     string `json:"name"`
	File     string `json:"file,omitempty"`
	Checksum string `json:"checksum,omitempty"` // "sha256:<hex>"; "" when unresolved
}

// ImageAction is what the plan knows and will do about one desired image.
type ImageAction struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // "iso" or "cloud-image"
	// File is the upstream file the checksum file names today; Checksum
	// its checksum ("sha256:<hex>"). Both empty when Error is set.
	File     string `json:"file,omitempty"`
	Checksum string `json:"checksum,omitempty"`
	// URL is the upstream URL, without credentials or query.
	URL string `json:"url,omitempty"`
	// Volume is the volume id the image is kept as on each node
	// ("local:import/noble-server-cloudimg-amd64-3f1c2e44a1b2.qcow2").
	Volume string   `json:"volume,omitempty"`
	Nodes  []string `json:"nodes"`
	// Base is the base VM's name clone builds start from (cloud images).
	Base string `json:"base,omitempty"`
	// New is true when no guest templated stamped was built from this
	// digest: a first use or a new vendor release.
	New bool `json:"new"`
	// Templates are the creates and rebuilds of this plan that use it;
	// the image (and base) are made present before they build.
	Templates []string `json:"templates,omitempty"`
	// Error says why the image could not be resolved.
	Error string `json:"error,omitempty"`
}

// Current is what the cluster holds at an action's VMID.
type Current struct {
	Name       string     `json:"name"`
	Template   bool       `json:"template"`
	Managed    bool       `json:"managed"`
	Release    string     `json:"release,omitempty"`
	InputsHash string     `json:"inputs_hash,omitempty"`
	BuiltAt    *time.Time `json:"built_at,omitempty"`
	Cores      int        `json:"cores"`
	MemoryMiB  int64      `json:"memory_mib"`
	DiskGB     int64      `json:"disk_gb"`
	// Images are the image checksums the template's stamp records (the
	// first 12 hex of each digest when read from tags).
	Images []string `json:"images,omitempty"`
}

// Unmanaged is a guest in the reserved template range that no desired entry
// names. templated never touches it.
type Unmanaged struct {
	VMID     int    `json:"vmid"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Template bool   `json:"template"`
	// Managed is true when templated built it (it carries the stamp) and the
	// desired file no longer names it.
	Managed bool   `json:"managed"`
	Note    string `json:"note"`
}
