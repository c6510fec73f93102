package pvesim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

func getVersion(s *Server, _ *reqCtx) (any, error) {
	v := s.cluster.version
	major, rest, _ := strings.Cut(v, ".")
	minor, _, _ := strings.Cut(rest, ".")
	return map[string]any{"version": v, "release": major + "." + minor, "repoid": "2a5fa54a8503f96d"}, nil
}

type nodeEntry struct {
	ID             string  `json:"id"`
	Type           string  `json:"type"`
	Node           string  `json:"node"`
	Status         string  `json:"status"`
	CPU            float64 `json:"cpu,omitempty"`
	MaxCPU         int     `json:"maxcpu,omitempty"`
	Mem            int64   `json:"mem,omitempty"`
	MaxMem         int64   `json:"maxmem,omitempty"`
	Disk           int64   `json:"disk,omitempty"`
	MaxDisk        int64   `json:"maxdisk,omitempty"`
	Uptime         int64   `json:"uptime,omitempty"`
	Level          string  `json:"level"`
	SSLFingerprint string  `json:"ssl_fingerprint,omitempty"`
}

func (c *Cluster) nodeEntryLocked(n NodeSpec) nodeEntry {
	e := nodeEntry{ID: "node/" + n.Name, Type: "node", Node: n.Name, Status: n.Status}
	if n.Status == "online" {
		e.CPU, e.MaxCPU = 0.031, n.CPUs
		e.MaxMem = n.Memory
		var used int64 = 2 << 30
		for _, g := range c.guests {
			if g.node == n.Name && g.running {
				used += c.stats(g).mem
			}
		}
		e.Mem = min(used, n.Memory)
		e.Disk, e.MaxDisk = 12<<30, 100<<30
		e.Uptime = 864000
		e.SSLFingerprint = "5A:1B:9C:3D:7E:2F:60:41:82:A3:C4:E5:06:27:48:69:8A:AB:CC:ED:0E:2F:50:71:92:B3:D4:F5:16:37:58:79"
	}
	return e
}

func getNodes(s *Server, _ *reqCtx) (any, error) {
	c := s.cluster
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]nodeEntry, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, c.nodeEntryLocked(n))
	}
	return out, nil
}

// checkNode answers for a request routed to an unknown node as pveproxy
// does when it cannot resolve the node name.
func (c *Cluster) checkNode(node string) error {
	if !c.hasNode(node) {
		return fail(500, "hostname lookup '%s' failed - failed to get address info for: %s: Name or service not known", node, node)
	}
	return nil
}

func getNodeIndex(s *Server, rc *reqCtx) (any, error) {
	if err := s.cluster.checkNode(rc.pathValue("node")); err != nil {
		return nil, err
	}
	return index("name", "qemu", "lxc", "storage", "tasks", "status", "version"), nil
}

// resEntry is one VM or container in /cluster/resources.
type resEntry struct {
	ID        string  `json:"id"`
	Type      string  `json:"type"`
	VMID      int     `json:"vmid"`
	Node      string  `json:"node"`
	Name      string  `json:"name"`
	Status    string  `json:"status"`
	Template  int     `json:"template"`
	MaxCPU    int     `json:"maxcpu"`
	CPU       float64 `json:"cpu"`
	MaxMem    int64   `json:"maxmem"`
	Mem       int64   `json:"mem"`
	MaxDisk   int64   `json:"maxdisk"`
	Disk      int64   `json:"disk"`
	NetIn     int64   `json:"netin"`
	NetOut    int64   `json:"netout"`
	DiskRead  int64   `json:"diskread"`
	DiskWrite int64   `json:"diskwrite"`
	Uptime    int64   `json:"uptime"`
	Tags      string  `json:"tags,omitempty"`
	Lock      string  `json:"lock,omitempty"`
}

type storageEntry struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Storage    string `json:"storage"`
	Node       string `json:"node"`
	Status     string `json:"status"`
	Content    string `json:"content"`
	PluginType string `json:"plugintype"`
	Shared     int    `json:"shared"`
	Disk       int64  `json:"disk"`
	MaxDisk    int64  `json:"maxdisk"`
}

// offlineEntry is a guest on a node that does not answer, as pve-manager's
// Cluster.pm lists it: from the cluster file system's vmlist and config
// (name, tags, template, lock), with no statistics (PVE::API2Tools's
// extract_vm_stats finds no fresh RRD data) and the status "unknown".
type offlineEntry struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	VMID     int    `json:"vmid"`
	Node     string `json:"node"`
	Name     string `json:"name,omitempty"`
	Status   string `json:"status"`
	Template int    `json:"template,omitempty"`
	Tags     string `json:"tags,omitempty"`
	Lock     string `json:"lock,omitempty"`
}

// resEntryLocked is g's entry in /cluster/resources: a resEntry, or an
// offlineEntry when g's node is offline.
func (c *Cluster) resEntryLocked(g *guest) any {
	if !c.nodeOnline(g.node) {
		e := offlineEntry{ID: g.typ + "/" + strconv.Itoa(g.vmid), Type: g.typ, VMID: g.vmid, Node: g.node,
			Name: g.name(), Status: "unknown", Tags: g.conf["tags"], Lock: g.conf["lock"]}
		if g.isTemplate() {
			e.Template = 1
		}
		return e
	}
	st := c.stats(g)
	e := resEntry{ID: g.typ + "/" + strconv.Itoa(g.vmid), Type: g.typ, VMID: g.vmid, Node: g.node,
		Name: g.name(), Status: g.status(), MaxCPU: st.maxcpu, CPU: st.cpu, MaxMem: st.maxmem, Mem: st.mem,
		MaxDisk: st.maxdisk, Disk: st.disk, NetIn: st.netin, NetOut: st.netout, DiskRead: st.diskrd,
		DiskWrite: st.diskwr, Uptime: st.uptime, Tags: g.conf["tags"], Lock: g.conf["lock"]}
	if g.isTemplate() {
		e.Template = 1
	}
	return e
}

func getResources(s *Server, rc *reqCtx) (any, error) {
	typ := rc.param("type")
	switch typ {
	case "", "vm", "storage", "node", "sdn", "pool":
	default:
		return nil, paramError(map[string]string{"type": fmt.Sprintf("value '%s' does not have a value in the enumeration 'vm, storage, node, sdn, pool'", typ)})
	}
	c := s.cluster
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := []any{}
	if typ == "" || typ == "vm" {
		// PVE iterates "sort keys" of the vmlist: string order of VMIDs.
		ids := make([]string, 0, len(c.guests))
		for id := range c.guests {
			ids = append(ids, strconv.Itoa(id))
		}
		sort.Strings(ids)
		for _, id := range ids {
			n, _ := strconv.Atoi(id)
			if s.canAny(rc, "/vms/"+id, "VM.Audit") {
				out = append(out, c.resEntryLocked(c.guests[n]))
			}
		}
	}
	if typ == "" || typ == "node" {
		for _, n := range c.nodes {
			if s.canAny(rc, "/nodes/"+n.Name, "Sys.Audit") {
				out = append(out, c.nodeEntryLocked(n))
			}
		}
	}
	if typ == "" || typ == "storage" {
		for _, n := range c.nodes {
			for _, st := range c.storages {
				if !storageOnNode(st, n.Name) || !s.canAny(rc, "/storage/"+st.Name, "Datastore.Audit", "Datastore.AllocateSpace") {
					continue
				}
				out = append(out, c.storageEntryLocked(st, n.Name))
			}
		}
	}
	return out, nil
}

func storageOnNode(st StorageSpec, node string) bool {
	if len(st.Nodes) == 0 {
		return true
	}
	for _, n := range st.Nodes {
		if n == node {
			return true
		}
	}
	return false
}

func (c *Cluster) storageEntryLocked(st StorageSpec, node string) storageEntry {
	var used int64
	for _, v := range c.volumesLocked(node, st.Name, "", 0) {
		used += v.Size
	}
	shared := 0
	if st.Shared {
		shared = 1
	}
	size := st.Size
	if size == 0 {
		size = 500 << 30
	}
	return storageEntry{ID: "storage/" + node + "/" + st.Name, Type: "storage", Storage: st.Name, Node: node,
		Status: "available", Content: strings.Join(st.Content, ","), PluginType: st.Type, Shared: shared,
		Disk: min(used, size), MaxDisk: size}
}

func getNextID(s *Server, rc *reqCtx) (any, error) {
	c := s.cluster
	c.mu.RLock()
	defer c.mu.RUnlock()
	if rc.has("vmid") {
		n, err := parseVMID("vmid", rc.param("vmid"))
		if err != nil {
			return nil, err
		}
		if _, ok := c.guests[n]; ok {
			return nil, paramError(map[string]string{"vmid": fmt.Sprintf("VM %d already exists", n)})
		}
		return strconv.Itoa(n), nil
	}
	id, err := c.nextIDLocked()
	if err != nil {
		return nil, err
	}
	return strconv.Itoa(id), nil
}

func getHAResources(*Server, *reqCtx) (any, error) { return []any{}, nil }

func haSID(sid string) string {
	if _, err := strconv.Atoi(sid); err == nil {
		return "vm:" + sid
	}
	return sid
}

func getHAResource(_ *Server, rc *reqCtx) (any, error) {
	return nil, fail(500, "no such resource '%s'", haSID(rc.pathValue("sid")))
}

func deleteHAResource(_ *Server, rc *reqCtx) (any, error) {
	return nil, fail(500, "cannot delete service '%s', not HA managed!", haSID(rc.pathValue("sid")))
}
