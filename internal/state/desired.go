package state

import (
	"time"

	"github.com/hashicorp/go-version"
	"github.com/robfig/cron/v3"
)

// Desired is a parsed and validated desired/templates.yaml. Every Template
// has its defaults applied, so consumers never look at Defaults themselves.
type Desired struct {
	Version  int
	Defaults Defaults
	VMIDs    VMIDRanges
	// Images are the installer ISOs and cloud images templates are built
	// from, in the file's order.
	Images    []Image
	Templates []Template
	// Notifications says where templated tells people what happened (nil
	// when the file has no notifications section).
	Notifications *Notifications

	// Path is the file it was read from ("" when parsed from a reader).
	Path string
	// SHA256 is the hex digest of the file's bytes, recorded in the ledger.
	SHA256 string
	// PackerRoot is the packer/ workspace the templates' Packer and VarFile
	// paths are relative to and were checked against ("" when Parse was not
	// given one, so only their syntax was checked).
	PackerRoot string
	// Revision is the git revision the file and its workspace were read
	// from when the daemon follows a remote (nil for a working copy, whose
	// commit the ledger reads itself).
	Revision *Revision
}

// Revision is a fetched git revision: where a desired state came from.
type Revision struct {
	// Repo is the remote's URL without credentials; Ref the ref followed
	// and Resolved the full ref it resolved to.
	Repo     string
	Ref      string
	Resolved string
	// Commit is the full commit hash.
	Commit string
	// Signer names the key that signed the commit ("" when signatures
	// are not verified).
	Signer string
	// FetchedAt is when the fetch that brought the commit finished.
	FetchedAt time.Time
}

// Template returns the template named name, or false.
func (d *Desired) Template(name string) (Template, bool) {
	for _, t := range d.Templates {
		if t.Name == name {
			return t, true
		}
	}
	return Template{}, false
}

// Image returns the image named name, or false.
func (d *Desired) Image(name string) (Image, bool) {
	for _, im := range d.Images {
		if im.Name == name {
			return im, true
		}
	}
	return Image{}, false
}

// Image kinds.
const (
	ImageISO   = "iso"         // an installer or driver ISO: iso content
	ImageCloud = "cloud-image" // a disk image: import content, a base VM
)

// Image is one desired image: which bytes, from where, and where in the
// cluster they must be.
type Image struct {
	Name string // ubuntu-24.04-cloud
	Kind string // ImageISO or ImageCloud
	// URL is where the image is downloaded from; "{file}" in it stands
	// for the file name (the checksum file's pick for a pattern).
	URL string
	// Checksum is a pinned "sha256:<hex>" or "sha512:<hex>" ("" when
	// ChecksumURL is set).
	Checksum string
	// ChecksumURL is the vendor's checksum file (SHA256SUMS, CHECKSUM)
	// and File the name, or a pattern picking the highest version, to
	// look up in it. With a pinned Checksum, File is the file name
	// (default: the URL's last path element).
	ChecksumURL string
	File        string
	// Format is a cloud image's disk format: qcow2 (default), raw or
	// vmdk; it names the volume's extension on import storage ("" for
	// an iso).
	Format string
	// Storage is where the image is kept (default: defaults.iso_storage)
	// and Nodes the nodes it must be on (default: the nodes of the
	// templates that use it).
	Storage string
	Nodes   []string

	// Line is where the entry starts in the desired file.
	Line int
}

// Defaults are the values a template takes when it does not set its own.
type Defaults struct {
	Node          string
	Storage       string
	ISOStorage    string
	Cores         int
	MemoryMiB     int
	DiskGB        int
	MaxAge        time.Duration
	PatchSchedule string
	Timezone      string
	KeepPrevious  int
	BuildTimeout  time.Duration
	Build         string // "iso" or "clone"
	// Replicas are the nodes, besides its own, that keep a replica of
	// a template (nil for none).
	Replicas []string
}

// Range is an inclusive range of VMIDs.
type Range struct{ First, Last int }

// Contains reports whether vmid lies in r.
func (r Range) Contains(vmid int) bool { return vmid >= r.First && vmid <= r.Last }

// VMIDRanges are the VMID ranges templated reserves.
type VMIDRanges struct {
	Templates Range // where templates live, at the VMID their entry names
	Staging   Range // where builds happen before they are swapped in
	Previous  Range // earlier versions kept for rollback
	// Bases is where templated makes the base VMs of clone templates from
	// cloud images (zero when the file declares none).
	Bases Range
	// Replicas maps a node to where replicas of templates live on it: a
	// range as long as Templates, the replica of the template at
	// Templates.First+i at First+i (nil when the file declares none).
	Replicas map[string]Range
}

// Template is one desired template with every default applied.
type Template struct {
	Name      string // tpl-<os>-<version>
	VMID      int
	OS        string
	OSVersion string
	// Release is the semantic version people bump to force a rebuild.
	Release *version.Version
	// Packer is the template's OS directory under packer/ ("linux/ubuntu").
	Packer string
	// VarFile is the .pkrvars.hcl file, relative to packer/.
	VarFile string
	// Build is "iso" (proxmox-iso from an installer ISO) or "clone"
	// (proxmox-clone from a cloud-image base VM).
	Build      string
	Node       string
	Storage    string
	ISOStorage string
	Cores      int
	MemoryMiB  int
	DiskGB     int
	MaxAge     time.Duration
	// PatchSchedule is the cron expression ("" for none) and Schedule its
	// parsed form in Location.
	PatchSchedule string
	Schedule      cron.Schedule
	Timezone      string
	Location      *time.Location
	// Suspended stops templated from acting on the template; SuspendReason
	// says why (shown in plan).
	Suspended     bool
	SuspendReason string
	KeepPrevious  int
	BuildTimeout  time.Duration
	// Image names the desired image the build starts from: an iso for
	// iso builds (the installer), a cloud-image for clone builds (its
	// base VM); "" when the var file names the ISO or base VM itself.
	Image string
	// ExtraImages name further iso images attached to an iso build
	// (drivers such as virtio-win), in order.
	ExtraImages []string
	// Replicas are the identical copies of the template kept on other
	// nodes, in the order the file lists their nodes (nil for none).
	Replicas []Replica

	// Line is where the entry starts in the desired file (for messages).
	Line int
}
