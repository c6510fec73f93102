package doctor

import (
	"time"

	"templated/internal/proxmox"
	"templated/internal/state"
)

// Snapshot is everything the checks look at, gathered once. Errors are
// kept as Problems (what went wrong, classified) so that Evaluate, which
// does no I/O, can word them.
type Snapshot struct {
	// Now is the control node's clock when the snapshot was taken.
	Now  time.Time
	Conn Conn
	// Ranges are the desired file's VMID ranges; Templates what each
	// template's build needs.
	Ranges    state.VMIDRanges
	Templates []Template
	// API is nil when the connection settings are unusable.
	API   *API
	Local Local
}

// Conn is the connection as configured.
type Conn struct {
	URL      string
	TokenID  string
	CAFile   string
	Insecure bool
	// Err is why the settings (env file, environment) are unusable.
	Err string
}

// Problem is a failed request or file operation.
type Problem struct {
	Kind string // see the Kind* constants
	Msg  string
}

// Kinds of Problem.
const (
	KindUnreachable = "unreachable"
	KindTLS         = "tls"
	KindAuth        = "auth"
	KindPermission  = "permission"
	KindOffline     = "offline" // the API proxy could not reach the node (59x)
	KindOther       = "other"
)

// Template is what one template's build needs of the cluster, from the
// desired file and its var file.
type Template struct {
	Name       string
	VMID       int
	Node       string
	Storage    string
	ISOStorage string
	Build      string // "iso" or "clone"
	// ISOs are the installer ISO and extra ISOs (iso builds only).
	ISOs []string
	// CloneVM names the base VM of clone builds.
	CloneVM string
	// Bridge is the network bridge the build attaches (SDN.Use).
	Bridge string
	// Answers is true when the OS directory has installer answer files
	// that templated uploads as an ISO (iso builds).
	Answers bool
	// Images are the desired images the build starts from (its Image,
	// then its ExtraImages), as templated downloads them.
	Images []Image
	// Replicas are the copies of its build templated keeps on other
	// nodes (none on shared storage).
	Replicas []state.Replica
	// VarErr is why the var file could not be read.
	VarErr string
}

// Image is a desired image as a template uses it: where templated
// downloads it (download-url) and, for a cloud image, imports it from.
type Image struct {
	Name string
	Kind string // state.ImageISO or state.ImageCloud
	// Storage is the image's storage (default: the template's ISO
	// storage) and Nodes the nodes it is downloaded on (default: the
	// template's node).
	Storage string
	Nodes   []string
}

// API is what the cluster answered.
type API struct {
	Cert    proxmox.Certificate
	CertErr *Problem

	Version    string
	VersionErr *Problem

	Perms    proxmox.Permissions
	PermsErr *Problem

	Members    []proxmox.Member
	MembersErr *Problem

	NextID    proxmox.NextID
	NextIDErr *Problem

	Guests    []state.Guest
	GuestsErr *Problem

	// Nodes holds what was read per node the templates use (absent: not
	// asked, because the node is offline or unknown).
	Nodes map[string]*Node
	// Requests is how many API requests the gathering made.
	Requests int64
}

// Node is what one node answered.
type Node struct {
	// Time is the node's clock; Asked the control node's clock halfway
	// through the request.
	Time    time.Time
	Asked   time.Time
	TimeErr *Problem

	Storages    []proxmox.StorageState
	StoragesErr *Problem

	// Volumes maps an ISO storage to its ISO volume ids.
	Volumes    map[string][]string
	VolumesErr map[string]*Problem
}

// Local is what the control node holds.
type Local struct {
	PackerVersion string
	PackerErr     string
	PluginVersion string // "" when none is installed
	PluginErr     string // Packer could not list its plugins
	// Generations are the plugin generations the workspace has
	// (directories under packer/shared/gen).
	Generations []string
	PackerRoot  string

	KeyPath string
	KeyErr  string // empty: the key is there, private and readable

	LedgerDir string
	LedgerErr string // empty: writable

	StateDir string
	LockErr  string // empty: the lock was free (or there is no state yet)
}
