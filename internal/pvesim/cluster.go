package pvesim

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Cluster is the simulated cluster state. One RWMutex guards everything, so
// /cluster/resources, the node lists, config and status/current agree at
// every instant. Its exported methods are the tests' direct access to state
// ("editing the config file by hand").
type Cluster struct {
	mu       sync.RWMutex
	version  string
	major    int            // PVE major version: privilege names, built-in roles
	access   *access        // nil: every token may do everything
	rootAcc  *access        // the model GET /access/permissions uses without access
	clspec   *ClusterSpec   // nil: a lone node (unless several nodes)
	dc       DatacenterSpec // datacenter.cfg
	nodes    []NodeSpec
	storages []StorageSpec
	isos     map[string]ISOSpec // volid → file (iso, vztmpl, import content)
	files    *fileStore         // where downloaded files' bytes are kept
	workers  *workers           // task worker goroutines (downloads)
	guests   map[int]*guest
	vacant   map[int][]Vacancy // per VMID, oldest first; see Vacancies
	tasks    map[string]*task
	taskList []*task
	pidSeq   uint32
	pstart   uint32
	duration time.Duration
	closed   bool
	onChange func() // persistence hook; called with mu held, must not block
	now      func() time.Time
}

type guest struct {
	vmid    int
	node    string
	typ     string // "qemu" or "lxc"
	conf    map[string]string
	pending map[string]string
	pendDel map[string]bool
	running bool
	started time.Time
	pid     int
}

// Guest is a snapshot of one guest, safe to keep and modify.
type Guest struct {
	VMID        int
	Node        string
	Type        string // "qemu" or "lxc"
	Name        string
	Status      string // "running" or "stopped"
	Template    bool
	Lock        string
	Tags        string // as stored: "a;b"
	Description string
	// Config is the current config (pending changes not applied).
	Config        map[string]string
	Pending       map[string]string
	PendingDelete []string
}

func newCluster(seed *Seed, taskDuration time.Duration) (*Cluster, error) {
	c := &Cluster{
		version:  seed.Version,
		nodes:    slices.Clone(seed.Nodes),
		storages: slices.Clone(seed.Storages),
		isos:     map[string]ISOSpec{},
		files:    &fileStore{},
		workers:  newWorkers(),
		guests:   map[int]*guest{},
		vacant:   map[int][]Vacancy{},
		tasks:    map[string]*task{},
		pidSeq:   0x0003F000,
		pstart:   uint32(time.Now().Unix()%0x7FFFFF) + 0x100000,
		duration: taskDuration,
		onChange: func() {},
		now:      time.Now,
	}
	if c.version == "" {
		c.version = "8.4.1"
	}
	c.major = majorVersion(c.version)
	var err error
	if c.rootAcc, err = newAccess(&AccessSpec{}, c.major); err != nil {
		return nil, err
	}
	if seed.Access != nil {
		if c.access, err = newAccess(seed.Access, c.major); err != nil {
			return nil, err
		}
	}
	if seed.Cluster != nil {
		cs := *seed.Cluster
		c.clspec = &cs
	}
	if seed.Datacenter != nil {
		c.dc = *seed.Datacenter
		if c.dc.NextID != nil {
			n := *c.dc.NextID
			c.dc.NextID = &n
		}
	}
	for i := range c.nodes {
		if c.nodes[i].Status == "" {
			c.nodes[i].Status = "online"
		}
		if c.nodes[i].CPUs == 0 {
			c.nodes[i].CPUs = 8
		}
		if c.nodes[i].Memory == 0 {
			c.nodes[i].Memory = 32 << 30
		}
		if c.nodes[i].IP == "" {
			c.nodes[i].IP = fmt.Sprintf("192.0.2.%d", 10+i)
		}
	}
	for _, iso := range seed.ISOs {
		c.isos[iso.volid()] = iso
	}
	for _, g := range seed.Guests {
		if err := c.addGuestLocked(g); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// addGuestLocked adds a guest from a spec; c.mu must be held (or c private).
func (c *Cluster) addGuestLocked(s GuestSpec) error {
	if s.VMID < 100 {
		return fmt.Errorf("add guest: invalid vmid %d", s.VMID)
	}
	if _, ok := c.guests[s.VMID]; ok {
		return fmt.Errorf("add guest %d: vmid already exists", s.VMID)
	}
	if s.Node == "" {
		s.Node = c.nodes[0].Name
	}
	if !c.hasNode(s.Node) {
		return fmt.Errorf("add guest %d: unknown node %q", s.VMID, s.Node)
	}
	if s.Type == "" {
		s.Type = "qemu"
	}
	if s.Type != "qemu" && s.Type != "lxc" {
		return fmt.Errorf("add guest %d: unknown type %q", s.VMID, s.Type)
	}
	g := &guest{vmid: s.VMID, node: s.Node, typ: s.Type, conf: maps.Clone(s.Config),
		pending: maps.Clone(s.Pending), pendDel: map[string]bool{}}
	if g.conf == nil {
		g.conf = map[string]string{}
	}
	if g.pending == nil {
		g.pending = map[string]string{}
	}
	for _, k := range s.PendingDelete {
		g.pendDel[k] = true
	}
	nameKey := "name"
	if s.Type == "lxc" {
		nameKey = "hostname"
	}
	if s.Name != "" {
		g.conf[nameKey] = s.Name
	}
	if s.Tags != "" {
		g.conf["tags"] = s.Tags
	}
	if t, ok := g.conf["tags"]; ok {
		g.conf["tags"] = NormalizeTags(t)
	}
	if s.Description != "" {
		g.conf["description"] = s.Description
	}
	if s.Template {
		g.conf["template"] = "1"
	}
	if s.Running {
		if g.isTemplate() {
			return fmt.Errorf("add guest %d: a template cannot run", s.VMID)
		}
		c.startLocked(g)
	}
	c.putGuest(g)
	return nil
}

func (c *Cluster) hasNode(n string) bool {
	for _, x := range c.nodes {
		if x.Name == n {
			return true
		}
	}
	return false
}

func (c *Cluster) storage(name string) (StorageSpec, bool) {
	for _, s := range c.storages {
		if s.Name == name {
			return s, true
		}
	}
	return StorageSpec{}, false
}

func (c *Cluster) startLocked(g *guest) {
	g.running = true
	g.started = c.now()
	c.pidSeq++
	g.pid = int(c.pidSeq)
	// PVE applies pending changes when a VM starts.
	for k, v := range g.pending {
		g.conf[k] = v
	}
	for k := range g.pendDel {
		delete(g.conf, k)
	}
	g.pending = map[string]string{}
	g.pendDel = map[string]bool{}
}

func (g *guest) isTemplate() bool { return g.conf["template"] == "1" }

func (g *guest) name() string {
	if g.typ == "lxc" {
		if n := g.conf["hostname"]; n != "" {
			return n
		}
		return "CT" + strconv.Itoa(g.vmid)
	}
	if n := g.conf["name"]; n != "" {
		return n
	}
	return "VM " + strconv.Itoa(g.vmid)
}

func (g *guest) status() string {
	if g.running {
		return "running"
	}
	return "stopped"
}

func (g *guest) snapshot() Guest {
	out := Guest{VMID: g.vmid, Node: g.node, Type: g.typ, Name: g.name(), Status: g.status(),
		Template: g.isTemplate(), Lock: g.conf["lock"], Tags: g.conf["tags"],
		Description: g.conf["description"], Config: maps.Clone(g.conf), Pending: maps.Clone(g.pending)}
	out.PendingDelete = sortedKeys(g.pendDel)
	return out
}

// confPath is the file PVE would read, used in its error messages.
func (g *guest) confPath(node string) string { return confPath(node, g.typ, g.vmid) }

func confPath(node, typ string, vmid int) string {
	dir := "qemu-server"
	if typ == "lxc" {
		dir = "lxc"
	}
	return fmt.Sprintf("nodes/%s/%s/%d.conf", node, dir, vmid)
}

// stats are the numbers /cluster/resources and the node lists report.
type stats struct {
	maxcpu         int
	cpu            float64
	maxmem, mem    int64
	maxdisk, disk  int64
	uptime         int64
	netin, netout  int64
	diskrd, diskwr int64
}

func (c *Cluster) stats(g *guest) stats {
	var s stats
	cores := atoiDefault(g.conf["cores"], 1)
	if g.typ == "qemu" {
		s.maxcpu = cores * atoiDefault(g.conf["sockets"], 1)
		if v := atoiDefault(g.conf["vcpus"], 0); v > 0 {
			s.maxcpu = v
		}
		s.maxmem = int64(atoiDefault(strings.TrimPrefix(g.conf["memory"], "current="), 512)) << 20
	} else {
		s.maxcpu = cores
		s.maxmem = int64(atoiDefault(g.conf["memory"], 512)) << 20
	}
	s.maxdisk = g.bootDiskSize()
	if g.running {
		up := int64(c.now().Sub(g.started).Seconds())
		s.uptime = up
		s.cpu = 0.01 + float64(g.vmid%7)/100
		s.mem = s.maxmem / 3
		s.netin = 1024*up + 4096
		s.netout = 512*up + 2048
		s.diskrd = 65536 * (up + 1)
		s.diskwr = 32768 * (up + 1)
		if g.typ == "lxc" {
			s.disk = s.maxdisk / 4
		}
	}
	return s
}

func atoiDefault(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

// bootDiskSize is the size of the first boot disk (or rootfs).
func (g *guest) bootDiskSize() int64 {
	if g.typ == "lxc" {
		return parseSize(propGet(g.conf["rootfs"], "size"), false)
	}
	if b := g.conf["boot"]; strings.HasPrefix(b, "order=") {
		for _, k := range strings.Split(strings.TrimPrefix(b, "order="), ";") {
			if size, ok := g.diskSize(k); ok {
				return size
			}
		}
	}
	for _, k := range sortedKeys(g.conf) {
		if size, ok := g.diskSize(k); ok {
			return size
		}
	}
	return 0
}

// diskSize is the size of config key k if it is a hard disk.
func (g *guest) diskSize(k string) (int64, bool) {
	v, ok := g.conf[k]
	if !ok || !isDiskKey(k) || strings.HasPrefix(k, "unused") || k == "efidisk0" || k == "tpmstate0" || isCDROM(v) {
		return 0, false
	}
	return parseSize(propGet(v, "size"), false), true
}

// --- Go API for tests -------------------------------------------------------

// Guests returns every guest, sorted by VMID.
func (c *Cluster) Guests() []Guest {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Guest, 0, len(c.guests))
	for _, g := range c.guests {
		out = append(out, g.snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VMID < out[j].VMID })
	return out
}

// Guest returns one guest.
func (c *Cluster) Guest(vmid int) (Guest, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	g, ok := c.guests[vmid]
	if !ok {
		return Guest{}, false
	}
	return g.snapshot(), true
}

// Config returns a copy of a guest's current config map.
func (c *Cluster) Config(vmid int) (map[string]string, bool) {
	g, ok := c.Guest(vmid)
	return g.Config, ok
}

// AddGuest adds a guest (a plain VM, a template, a container) directly.
func (c *Cluster) AddGuest(s GuestSpec) error {
	return c.AddGuests([]GuestSpec{s})
}

// AddGuests adds many guests under one lock; it stops at the first error.
func (c *Cluster) AddGuests(specs []GuestSpec) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.onChange()
	for _, s := range specs {
		if err := c.addGuestLocked(s); err != nil {
			return err
		}
	}
	return nil
}

// SetConfig edits a guest's config as if by hand: each key is set to its
// value verbatim, an empty value deletes the key. No checks, no task.
func (c *Cluster) SetConfig(vmid int, kv map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.guests[vmid]
	if !ok {
		return fmt.Errorf("set config: guest %d does not exist", vmid)
	}
	for k, v := range kv {
		if v == "" {
			delete(g.conf, k)
		} else {
			g.conf[k] = v
		}
	}
	c.onChange()
	return nil
}

// SetRunning starts or stops a guest at once (no task).
func (c *Cluster) SetRunning(vmid int, running bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.guests[vmid]
	if !ok {
		return fmt.Errorf("set running: guest %d does not exist", vmid)
	}
	if running && !g.running {
		c.startLocked(g)
	} else if !running {
		g.running = false
	}
	c.onChange()
	return nil
}

// RemoveGuest deletes a guest at once, without any of PVE's checks.
func (c *Cluster) RemoveGuest(vmid int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.guests[vmid]
	if !ok {
		return fmt.Errorf("remove guest: guest %d does not exist", vmid)
	}
	c.dropGuest(g)
	c.onChange()
	return nil
}

// AddLinkedClone adds a stopped linked clone of template tpl at newid, as
// if by hand: its disks are "storage:base-TPL-disk-N/vm-NEWID-disk-N"
// ("local:TPL/base-TPL-disk-N.raw/NEWID/vm-NEWID-disk-N.qcow2" on a
// directory storage) whatever the storage type. Deliberate difference:
// on LVM-thin PVE's linked clone (POST …/clone full=0) is a plain
// "vm-NEWID-disk-N" that names no base and does not keep the template
// from being destroyed or migrated; this one names its base and does.
func (c *Cluster) AddLinkedClone(tpl, newid int, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	src, ok := c.guests[tpl]
	if !ok || !src.isTemplate() {
		return fmt.Errorf("add linked clone: %d is not a template", tpl)
	}
	if _, ok := c.guests[newid]; ok {
		return fmt.Errorf("add linked clone: vmid %d already exists", newid)
	}
	conf, err := c.cloneConfig(src, cloneSpec{newid: newid, name: name, anyLink: true})
	if err != nil {
		return fmt.Errorf("add linked clone: %w", err)
	}
	c.putGuest(&guest{vmid: newid, node: src.node, typ: src.typ, conf: conf,
		pending: map[string]string{}, pendDel: map[string]bool{}})
	c.onChange()
	return nil
}

// Tasks returns every task, oldest first.
func (c *Cluster) Tasks() []Task {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Task, 0, len(c.taskList))
	for _, t := range c.taskList {
		out = append(out, t.snapshot())
	}
	return out
}

// Task returns one task by UPID.
func (c *Cluster) Task(upid string) (Task, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.tasks[upid]
	if !ok {
		return Task{}, false
	}
	return t.snapshot(), true
}

// AddISO adds (or replaces) a file in a storage's iso content.
func (c *Cluster) AddISO(storage, file string, size int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.storage(storage); !ok {
		return fmt.Errorf("add iso: storage %q does not exist", storage)
	}
	f := ISOSpec{Storage: storage, File: file, Size: size, Ctime: c.now().Unix()}
	c.isos[f.volid()] = f
	c.onChange()
	return nil
}

// Volumes lists a storage's content as GET …/storage/{s}/content does.
func (c *Cluster) Volumes(node, storage string) []Volume {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.volumesLocked(node, storage, "", 0)
}

func (c *Cluster) exportLocked() *Seed {
	s := &Seed{Version: c.version, Nodes: slices.Clone(c.nodes), Storages: slices.Clone(c.storages), Cluster: c.clspec}
	if c.access != nil {
		s.Access = c.access.spec
	}
	if c.dc.NextID != nil {
		dc := c.dc
		s.Datacenter = &dc
	}
	for _, k := range sortedKeys(c.isos) {
		s.ISOs = append(s.ISOs, c.isos[k])
	}
	ids := make([]int, 0, len(c.guests))
	for id := range c.guests {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		g := c.guests[id]
		s.Guests = append(s.Guests, GuestSpec{VMID: g.vmid, Node: g.node, Type: g.typ, Running: g.running,
			Config: maps.Clone(g.conf), Pending: maps.Clone(g.pending), PendingDelete: sortedKeys(g.pendDel)})
	}
	return s
}

// nextIDLocked is GET /cluster/nextid's answer: the first free VMID in
// datacenter.cfg's next-id range [lower, upper) (pve-manager
// PVE/API2/Cluster.pm 'nextid').
func (c *Cluster) nextIDLocked() (int, error) {
	lower, upper := 100, 1000*1000
	if n := c.dc.NextID; n != nil {
		lower, upper = cmp.Or(n.Lower, lower), cmp.Or(n.Upper, upper)
	}
	for id := lower; id < upper; id++ {
		if _, ok := c.guests[id]; !ok {
			return id, nil
		}
	}
	return 0, fail(500, "unable to get any free VMID in range [%d, %d]", lower, upper)
}
