package proxmoxfake

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"templated/internal/proxmox"
	"templated/internal/state"
)

// VM is a guest as seeded into (and read back from) the fake.
type VM struct {
	VMID          int
	Node          string // default "pve"
	Type          string // "qemu" (default) or "lxc"
	Name          string
	Template      bool
	Running       bool
	Lock          string
	Tags          []string
	Description   string
	Cores         int // default 1
	Sockets       int // default 1
	MemoryMiB     int // default 512
	Agent         bool
	CloudInit     bool
	Disks         []state.Disk // default: scsi0 on local-lvm, 32 GB
	LinkedCloneOf int          // VMID of the template this is a linked clone of
	// Extra are further config keys as PVE shows them (serial0, net0,
	// ...); they win over the keys the fields above make.
	Extra map[string]string
}

// Funcs are hooks run before the operation of the same name. A hook that
// returns an error makes the operation return it without doing anything; a
// nil error lets the operation run. Hooks run without the fake's lock held,
// so they may call the seeding helpers or block on ctx.
type Funcs struct {
	ListGuests        func(ctx context.Context) error
	GuestConfig       func(ctx context.Context, node string, vmid int) error
	SetMeta           func(ctx context.Context, node string, vmid int, description string, tags []string) error
	SetMetaIf         func(ctx context.Context, node string, vmid int, digest, description string, tags []string) error
	CreateGuest       func(ctx context.Context, node string, g proxmox.NewGuest) error
	Clone             func(ctx context.Context, node string, src, dst int, name string) error
	ResizeDisk        func(ctx context.Context, node string, vmid int, disk string, sizeGB int) error
	ConvertToTemplate func(ctx context.Context, node string, vmid int) error
	Delete            func(ctx context.Context, node string, vmid int) error
	LinkedClones      func(ctx context.Context, node string, vmid int) error
	Version           func(ctx context.Context) error
	DownloadURL       func(ctx context.Context, node, storage string, d proxmox.Download) error
	CreateBase        func(ctx context.Context, node string, b proxmox.BaseVM) error
	Migrate           func(ctx context.Context, node string, vmid int, target, targetStorage string) error
}

// Cluster is the in-memory cluster. The zero value is not usable; call New.
type Cluster struct {
	mu      sync.Mutex
	vms     map[int]*VM
	funcs   Funcs
	version string
	isos    map[string][]byte // uploaded ISOs and downloaded files: volid → content
	calls   []string
	tasks   int
	nodes   []string // declared with SetNodes; nil: defaultNodes
}

// New returns an empty cluster reporting PVE version 8.4.1.
func New() *Cluster {
	return &Cluster{vms: map[int]*VM{}, isos: map[string][]byte{}, version: "8.4.1"}
}

// SetFuncs installs fault-injection hooks (replacing earlier ones).
func (c *Cluster) SetFuncs(f Funcs) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.funcs = f
}

// SetVersion sets what Version reports.
func (c *Cluster) SetVersion(v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.version = v
}

// Calls returns the operations called so far, e.g. "Clone pve 9000 9900".
func (c *Cluster) Calls() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// Add seeds guests. Defaults are filled in; a VMID already present is an
// error.
func (c *Cluster) Add(vms ...VM) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range vms {
		if v.VMID < 100 {
			return fmt.Errorf("add VM %d: VMID below 100", v.VMID)
		}
		if _, ok := c.vms[v.VMID]; ok {
			return fmt.Errorf("add VM %d: already exists", v.VMID)
		}
		v := withDefaults(v)
		c.vms[v.VMID] = &v
	}
	return nil
}

// AddLinkedClone seeds a stopped linked clone vmid of template tpl.
func (c *Cluster) AddLinkedClone(tpl, vmid int, name string) error {
	c.mu.Lock()
	t, ok := c.vms[tpl]
	if !ok || !t.Template {
		c.mu.Unlock()
		return fmt.Errorf("add linked clone %d: %d is not a template", vmid, tpl)
	}
	v := cloneVM(t, vmid, name)
	for i, d := range v.Disks {
		_, vol, _ := strings.Cut(d.Volume, ":")
		v.Disks[i].Volume = t.Disks[i].Volume + "/" + vol
	}
	v.LinkedCloneOf = tpl
	c.mu.Unlock()
	return c.Add(v)
}

// SetRunning sets a guest's power state.
func (c *Cluster) SetRunning(vmid int, running bool) error {
	return c.update(vmid, func(v *VM) { v.Running = running })
}

// SetLock sets ("" clears) a guest's config lock.
func (c *Cluster) SetLock(vmid int, lock string) error {
	return c.update(vmid, func(v *VM) { v.Lock = lock })
}

// VM returns a copy of a guest.
func (c *Cluster) VM(vmid int) (VM, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.vms[vmid]
	if !ok {
		return VM{}, false
	}
	return copyVM(v), true
}

func (c *Cluster) update(vmid int, f func(*VM)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.vms[vmid]
	if !ok {
		return fmt.Errorf("VM %d does not exist", vmid)
	}
	f(v)
	return nil
}

func withDefaults(v VM) VM {
	if v.Node == "" {
		v.Node = "pve"
	}
	if v.Type == "" {
		v.Type = "qemu"
	}
	if v.Cores == 0 {
		v.Cores = 1
	}
	if v.Sockets == 0 {
		v.Sockets = 1
	}
	if v.MemoryMiB == 0 {
		v.MemoryMiB = 512
	}
	if v.Disks == nil {
		prefix := "vm"
		if v.Template {
			prefix = "base"
		}
		v.Disks = []state.Disk{{Key: "scsi0", Volume: fmt.Sprintf("local-lvm:%s-%d-disk-0", prefix, v.VMID), SizeGB: 32}}
	}
	v.Tags = state.NormalizeTags(v.Tags)
	return copyVM(&v)
}

func copyVM(v *VM) VM {
	out := *v
	out.Tags = slices.Clone(v.Tags)
	out.Disks = slices.Clone(v.Disks)
	out.Extra = maps.Clone(v.Extra)
	return out
}

// cloneVM copies src as PVE's clone does: all config, new disks, no
// template flag, stopped, unlocked.
func cloneVM(src *VM, vmid int, name string) VM {
	v := copyVM(src)
	v.VMID, v.Name, v.Template, v.Running, v.Lock, v.LinkedCloneOf = vmid, name, false, false, "", 0
	for i := range v.Disks {
		store, _, _ := strings.Cut(v.Disks[i].Volume, ":")
		v.Disks[i].Volume = fmt.Sprintf("%s:vm-%d-disk-%d", store, vmid, i)
	}
	return v
}

func (v *VM) guest() state.Guest {
	g := state.Guest{
		VMID: v.VMID, Name: v.Name, Node: v.Node, Type: v.Type, Template: v.Template,
		Status: "stopped", Lock: v.Lock, Tags: slices.Clone(v.Tags),
		MaxCPU: v.Cores * v.Sockets, MaxMem: int64(v.MemoryMiB) << 20,
	}
	if v.Running {
		g.Status = "running"
	}
	if len(v.Disks) > 0 {
		g.MaxDisk = int64(v.Disks[0].SizeGB * (1 << 30))
	}
	return g
}

func (v *VM) config() state.GuestConfig {
	raw := map[string]string{
		"name": v.Name, "cores": strconv.Itoa(v.Cores), "sockets": strconv.Itoa(v.Sockets),
		"memory": strconv.Itoa(v.MemoryMiB),
	}
	if v.Template {
		raw["template"] = "1"
	}
	if v.Lock != "" {
		raw["lock"] = v.Lock
	}
	if len(v.Tags) > 0 {
		raw["tags"] = strings.Join(v.Tags, ";")
	}
	if v.Description != "" {
		raw["description"] = v.Description
	}
	if v.Agent {
		raw["agent"] = "1"
	}
	if v.CloudInit {
		raw["ide2"] = fmt.Sprintf("local-lvm:vm-%d-cloudinit,media=cdrom", v.VMID)
	}
	for _, d := range v.Disks {
		raw[d.Key] = fmt.Sprintf("%s,size=%sG", d.Volume, strconv.FormatFloat(d.SizeGB, 'f', -1, 64))
	}
	maps.Copy(raw, v.Extra)
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha1.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s: %s\n", k, raw[k])
	}
	raw["digest"] = hex.EncodeToString(h.Sum(nil))
	return state.GuestConfig{
		VMID: v.VMID, Node: v.Node, Name: v.Name, Template: v.Template, Lock: v.Lock,
		Cores: v.Cores, Sockets: v.Sockets, MemoryMiB: v.MemoryMiB, Agent: v.Agent, CloudInit: v.CloudInit,
		Disks: slices.Clone(v.Disks), Tags: slices.Clone(v.Tags), Description: v.Description,
		Digest: raw["digest"], Raw: raw,
	}
}
