package state

import "time"

// Guest is one entry of GET /cluster/resources?type=vm: what a single list
// request tells about a VM or container. Numbers are as PVE reports them.
type Guest struct {
	VMID     int
	Name     string
	Node     string
	Type     string // "qemu" or "lxc"
	Template bool
	Status   string // "running", "stopped", "unknown"
	Lock     string // "" when not locked; "clone", "create", "destroyed", ...
	Tags     []string
	MaxCPU   int   // cores × sockets
	MaxMem   int64 // bytes
	MaxDisk  int64 // bytes (of the boot disk)
}

// IsQEMU reports whether the guest is a QEMU VM (not an LXC container).
func (g Guest) IsQEMU() bool { return g.Type == "qemu" }

// HasTag reports whether tag t is set on g (tags are compared lower-case,
// as PVE stores them).
func (g Guest) HasTag(t string) bool {
	for _, x := range g.Tags {
		if x == t {
			return true
		}
	}
	return false
}

// GuestConfig is the part of GET /nodes/{node}/qemu/{vmid}/config templated
// reads, plus the raw map for everything else.
type GuestConfig struct {
	VMID        int
	Node        string
	Name        string
	Template    bool
	Lock        string
	Cores       int
	Sockets     int
	MemoryMiB   int
	Agent       bool     // QEMU guest agent enabled
	CloudInit   bool     // a cloud-init drive is attached
	Disks       []Disk   // scsiN, virtioN, sataN, ideN disks (not CD-ROMs)
	Tags        []string // normalised as PVE stores them
	Description string
	Digest      string
	Raw         map[string]string
}

// Disk is one hard disk of a guest config.
type Disk struct {
	Key    string // "scsi0"
	Volume string // "local-lvm:base-9000-disk-0"
	SizeGB float64
}

// TaskError is returned by cluster operations whose PVE task ended with an
// exit status other than OK.
type TaskError struct {
	UPID       string
	ExitStatus string
}

func (e *TaskError) Error() string { return "task " + e.UPID + " failed: " + e.ExitStatus }

// Observed is everything the planner gets to know about a cluster.
type Observed struct {
	// Guests is the list from one GET /cluster/resources?type=vm.
	Guests []Guest
	// LinkedClones maps a template VMID to the VMIDs of guests whose disks
	// are linked clones of it. Only filled for templates the planner may
	// replace (reading it costs extra requests).
	LinkedClones map[int][]int
	// Holds are templates held by an operator (after rollback): name → why.
	Holds map[string]Hold
	// Inputs maps a template name to the hash of its inputs as the
	// workspace holds them now (desired entry, Packer files, Packer
	// version): the planner compares it with the hash stamped on the
	// template.
	Inputs map[string]string
	// Plugin is the installed packer-plugin-proxmox version the inputs
	// were hashed with ("" when unknown): the planner compares it with
	// the version stamped on the template.
	Plugin string
	// Unmet lists, for templates that need a build, what the cluster lacks
	// for it (a missing ISO or base VM, an unfit storage, a missing
	// privilege): the planner blocks those builds instead of letting
	// Packer fail minutes in. Only filled for templates a first plan
	// wanted to build.
	Unmet map[string][]Unmet
	// Images maps each desired image's name to what it resolves to now
	// (the vendor's checksum file read, or the pinned checksum); an
	// image that could not be resolved has Err set. Nil when the desired
	// file declares no images.
	Images map[string]ResolvedImage
}

// Unmet is one prerequisite of a build that the cluster does not meet.
type Unmet struct {
	// Code is the plan's reason code: iso-missing, clone-source-missing,
	// storage-unfit or permission-missing.
	Code string
	// Message says what is missing and how to fix it.
	Message string
}

// Hold keeps a template from being rebuilt until its desired entry changes
// or someone resumes it.
type Hold struct {
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
	// InputsHash is the desired inputs hash when the hold was set; a change
	// to it releases the hold.
	InputsHash string `json:"inputs_hash"`
}
