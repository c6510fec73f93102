package plan

import (
	"time"
)

// FormatVersion is the version of the plan's JSON form (docs/plan-json.md).
// A change that removes or renames a field bumps the major number.
const FormatVersion = "1.0"

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
	FormatVersion string      `json:"format_version"`
	DesiredSHA256 string      `json:"desired_sha256"`
	PlannedAt     time.Time   `json:"planned_at"`
	Summary       Summary     `json:"summary"`
	Actions       []Action    `json:"actions"`
	Unmanaged     []Unmanaged `json:"unmanaged"`
}

// Summary counts the actions by kind.
type Summary struct {
	Create  int `json:"create"`
	Rebuild int `json:"rebuild"`
	Keep    int `json:"keep"`
	Blocked int `json:"blocked"`
}

// HasChanges reports whether applying the plan would change the cluster.
func (p Plan) HasChanges() bool { return p.Summary.Create+p.Summary.Rebuild > 0 }

// Action is what will happen to one desired template, and why.
type Action struct {
	Template   string   `json:"template"`
	VMID       int      `json:"vmid"`
	Node       string   `json:"node"`
	Kind       Kind     `json:"action"`
	Reasons    []Reason `json:"reasons"`
	Release    string   `json:"release"`
	InputsHash string   `json:"inputs_hash"`
	// Current describes what is at the reserved VMID now (nil if nothing).
	Current *Current `json:"current"`
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
