package pvesim

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

//go:embed seed/default.yaml
var defaultSeedYAML []byte

//go:embed seed/three-node.yaml
var threeNodeSeedYAML []byte

// Seed describes a cluster: what the simulator starts with, and also the
// format of the state file (as JSON) it persists.
type Seed struct {
	// Version is what GET /version reports ("8.4.1" when empty). Its major
	// number (8 or 9) selects the privilege names and built-in roles.
	Version string `yaml:"version,omitempty" json:"version,omitempty"`
	// Cluster makes the nodes a cluster (GET /cluster/status); a seed
	// with more than one node is one even without it.
	Cluster *ClusterSpec `yaml:"cluster,omitempty" json:"cluster,omitempty"`
	// Datacenter is datacenter.cfg (GET /cluster/options).
	Datacenter *DatacenterSpec `yaml:"datacenter,omitempty" json:"datacenter,omitempty"`
	// Access holds users, tokens, roles and ACLs; nil lets every token do
	// everything.
	Access   *AccessSpec   `yaml:"access,omitempty" json:"access,omitempty"`
	Nodes    []NodeSpec    `yaml:"nodes" json:"nodes"`
	Storages []StorageSpec `yaml:"storages" json:"storages"`
	ISOs     []ISOSpec     `yaml:"isos,omitempty" json:"isos,omitempty"`
	Guests   []GuestSpec   `yaml:"guests,omitempty" json:"guests,omitempty"`
	// Faults are installed at start (CLI: --fault; seed: faults).
	Faults []Fault `yaml:"faults,omitempty" json:"-"`
}

// NodeSpec is one cluster node.
type NodeSpec struct {
	Name   string `yaml:"name" json:"name"`
	CPUs   int    `yaml:"cpus,omitempty" json:"cpus,omitempty"`
	Memory int64  `yaml:"memory,omitempty" json:"memory,omitempty"` // bytes
	// Status is "online" (default) or "offline". The first node answers
	// the API and must be online; requests routed to an offline node get
	// pveproxy's 595.
	Status string `yaml:"status,omitempty" json:"status,omitempty"`
	// IP is the node's cluster address (default 192.0.2.<10+index>).
	IP string `yaml:"ip,omitempty" json:"ip,omitempty"`
	// Level is the subscription level ("" none, "c", "b", "s", "p").
	Level string `yaml:"level,omitempty" json:"level,omitempty"`
	// ClockOffset shifts the node's clock (GET /nodes/{node}/time), a Go
	// duration such as "-10m", to provoke clock skew.
	ClockOffset string `yaml:"clock_offset,omitempty" json:"clock_offset,omitempty"`
	// Timezone is the node's time zone (default "UTC").
	Timezone string `yaml:"timezone,omitempty" json:"timezone,omitempty"`
}

// ClusterSpec names the cluster and the corosync config version.
type ClusterSpec struct {
	Name string `yaml:"name" json:"name"`
	// ConfigVersion is corosync.conf's config_version (default 1).
	ConfigVersion int `yaml:"config_version,omitempty" json:"config_version,omitempty"`
}

// DatacenterSpec is the part of datacenter.cfg the simulator knows.
type DatacenterSpec struct {
	// NextID bounds GET /cluster/nextid: lower (inclusive, default 100),
	// upper (exclusive, default 1000000).
	NextID *NextIDSpec `yaml:"next-id,omitempty" json:"next-id,omitempty"`
}

// NextIDSpec is datacenter.cfg's next-id property.
type NextIDSpec struct {
	Lower int `yaml:"lower,omitempty" json:"lower,omitempty"`
	Upper int `yaml:"upper,omitempty" json:"upper,omitempty"`
}

// StorageSpec is one storage, available on every node unless Nodes is set.
type StorageSpec struct {
	Name string `yaml:"name" json:"name"`
	// Type is the plugin type: "dir", "lvmthin", "zfspool", "nfs", ...
	Type string `yaml:"type" json:"type"`
	// Content lists the content types (iso, images, rootdir, vztmpl,
	// backup, snippets, import); each must be one the plugin type supports.
	Content []string `yaml:"content" json:"content"`
	Shared  bool     `yaml:"shared,omitempty" json:"shared,omitempty"`
	// Disable is storage.cfg's disable flag: listed with enabled 0.
	Disable bool `yaml:"disable,omitempty" json:"disable,omitempty"`
	// Inactive makes an enabled storage unreachable (active 0, no sizes).
	Inactive bool     `yaml:"inactive,omitempty" json:"inactive,omitempty"`
	Size     int64    `yaml:"size,omitempty" json:"size,omitempty"` // bytes
	Nodes    []string `yaml:"nodes,omitempty" json:"nodes,omitempty"`
}

// ISOSpec is one file of a storage: an ISO ("local:iso/<File>", the
// default), a container template ("local:vztmpl/<File>") or an image to
// import ("local:import/<File>", PVE 8.3+).
type ISOSpec struct {
	Storage string `yaml:"storage" json:"storage"`
	File    string `yaml:"file" json:"file"`
	// Content is iso (when empty), vztmpl or import.
	Content string `yaml:"content,omitempty" json:"content,omitempty"`
	Size    int64  `yaml:"size,omitempty" json:"size,omitempty"` // bytes of the file
	Ctime   int64  `yaml:"ctime,omitempty" json:"ctime,omitempty"`
	// VirtualSize is a qcow2 or vmdk image's disk size (what qemu-img
	// info reports and an import-from disk gets); 0 means Size.
	VirtualSize int64 `yaml:"virtual_size,omitempty" json:"virtual_size,omitempty"`
}

// GuestSpec describes a guest to add. Name, Tags, Description and Template
// are shorthands merged into Config (which may also hold them directly).
type GuestSpec struct {
	VMID        int               `yaml:"vmid" json:"vmid"`
	Node        string            `yaml:"node,omitempty" json:"node,omitempty"`
	Type        string            `yaml:"type,omitempty" json:"type,omitempty"` // "qemu" (default) or "lxc"
	Name        string            `yaml:"name,omitempty" json:"name,omitempty"`
	Template    bool              `yaml:"template,omitempty" json:"template,omitempty"`
	Running     bool              `yaml:"running,omitempty" json:"running,omitempty"`
	Tags        string            `yaml:"tags,omitempty" json:"tags,omitempty"`
	Description string            `yaml:"description,omitempty" json:"description,omitempty"`
	Config      map[string]string `yaml:"config,omitempty" json:"config,omitempty"`
	// Pending holds changes not yet applied (a running VM's hardware edits).
	Pending       map[string]string `yaml:"pending,omitempty" json:"pending,omitempty"`
	PendingDelete []string          `yaml:"pending_delete,omitempty" json:"pending_delete,omitempty"`
}

// DefaultSeed returns the embedded default cluster: node pve1, storages
// local (dir, ISOs) and local-lvm (lvmthin, images), installer ISOs, base
// cloud-image templates 8000-8002, three running VMs and two containers.
func DefaultSeed() *Seed {
	s, err := ParseSeed(defaultSeedYAML)
	if err != nil {
		panic(fmt.Sprintf("pvesim: embedded default seed: %v", err))
	}
	return s
}

// ThreeNodeSeed returns the embedded three-node cluster (seed/three-node.yaml):
// nodes pve1 (which answers the API), pve2 and pve3, on each a
// non-shared dir storage local (iso, import, vztmpl, snippets, backup)
// and a non-shared lvmthin storage local-lvm (images, rootdir), and the
// shared rbd storage ceph (images) on all three; base templates 8000 (on
// local-lvm) and 8001 (on ceph) on pve1, running VMs 100 on pve1 (ceph),
// 101 on pve2 and 102 on pve3 (local-lvm). No guests in 9000-9199.
func ThreeNodeSeed() *Seed {
	s, err := ParseSeed(threeNodeSeedYAML)
	if err != nil {
		panic(fmt.Sprintf("pvesim: embedded three-node seed: %v", err))
	}
	return s
}

// LoadSeed reads a seed YAML file.
func LoadSeed(path string) (*Seed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read seed: %w", err)
	}
	s, err := ParseSeed(b)
	if err != nil {
		return nil, fmt.Errorf("seed %s: %w", path, err)
	}
	return s, nil
}

// ParseSeed parses seed YAML strictly (unknown keys are errors).
func ParseSeed(b []byte) (*Seed, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s Seed
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("parse seed: %w", err)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *Seed) validate() error {
	if len(s.Nodes) == 0 {
		return fmt.Errorf("seed has no nodes")
	}
	if err := s.validateExtras(); err != nil {
		return err
	}
	nodes := map[string]bool{}
	for _, n := range s.Nodes {
		if n.Name == "" {
			return fmt.Errorf("seed node without name")
		}
		nodes[n.Name] = true
	}
	stores := map[string]bool{}
	for _, st := range s.Storages {
		if st.Name == "" || st.Type == "" {
			return fmt.Errorf("seed storage needs name and type")
		}
		stores[st.Name] = true
		if err := checkContent(st); err != nil {
			return err
		}
	}
	for _, iso := range s.ISOs {
		if !stores[iso.Storage] {
			return fmt.Errorf("iso %s: unknown storage %q", iso.File, iso.Storage)
		}
		if err := iso.validate(); err != nil {
			return err
		}
	}
	seen := map[int]bool{}
	for i, g := range s.Guests {
		if g.VMID < 100 {
			return fmt.Errorf("guests[%d]: vmid %d is below 100", i, g.VMID)
		}
		if seen[g.VMID] {
			return fmt.Errorf("guests[%d]: duplicate vmid %d", i, g.VMID)
		}
		seen[g.VMID] = true
		if g.Node != "" && !nodes[g.Node] {
			return fmt.Errorf("guests[%d]: unknown node %q", i, g.Node)
		}
	}
	for i, f := range s.Faults {
		if err := f.validate(); err != nil {
			return fmt.Errorf("faults[%d]: %w", i, err)
		}
	}
	return nil
}
