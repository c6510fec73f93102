package pvesim

import (
	"fmt"
	"strconv"
	"time"
)

// proxyTo answers for a request pveproxy forwards to {node}
// (proxyto => 'node'): the first node answers the API itself; another
// node marked offline cannot be reached, and pveproxy passes on what its
// HTTP client (AnyEvent::HTTP) reports for a failed connect: status 595,
// the errno text as reason, no body. Unknown nodes are left to the method
// (checkNode's hostname lookup error).
func (c *Cluster) proxyTo(node string) *apiError {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for i, n := range c.nodes {
		if n.Name == node && i > 0 && n.Status == "offline" {
			return &apiError{status: 595, msg: "No route to host", empty: true}
		}
	}
	return nil
}

// SetNodeStatus takes a node offline or brings it back online at once
// ("offline" or "online"). Requests routed to an offline node get 595, a
// migration to it fails. The first node answers the API and stays online.
func (c *Cluster) SetNodeStatus(name, status string) error {
	if status != "online" && status != "offline" {
		return fmt.Errorf("set node status: %q: want online or offline", status)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.nodes {
		if c.nodes[i].Name != name {
			continue
		}
		if i == 0 && status == "offline" {
			return fmt.Errorf("set node status: %s answers the API and cannot be offline", name)
		}
		c.nodes[i].Status = status
		c.onChange()
		return nil
	}
	return fmt.Errorf("set node status: unknown node %q", name)
}

// nodeOnline reports whether a node is a member and online; c.mu must be
// held.
func (c *Cluster) nodeOnline(name string) bool {
	n, ok := c.node(name)
	return ok && n.Status != "offline"
}

// isCluster reports whether the nodes form a cluster (a cluster section,
// or more than one node).
func (c *Cluster) isCluster() bool { return c.clspec != nil || len(c.nodes) > 1 }

// getClusterStatus is GET /cluster/status (pve-manager PVE/API2/Cluster.pm
// 'get_status'). In a cluster: one "cluster" entry (nodes, version,
// quorate, name) then one "node" entry per member (nodeid, local, online,
// ip, level). A lone node gets the fake entry with nodeid 0.
func getClusterStatus(s *Server, _ *reqCtx) (any, error) {
	c := s.cluster
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := []map[string]any{}
	if !c.isCluster() {
		n := c.nodes[0]
		return append(out, map[string]any{"type": "node", "id": "node/" + n.Name, "name": n.Name, "ip": n.IP,
			"local": 1, "nodeid": 0, "online": 1, "level": n.Level}), nil
	}
	name, version := "pvesim", 1
	if c.clspec != nil {
		name, version = c.clspec.Name, max(c.clspec.ConfigVersion, 1)
	}
	online := 0
	for _, n := range c.nodes {
		if n.Status == "online" {
			online++
		}
	}
	out = append(out, map[string]any{"type": "cluster", "id": "cluster", "name": name, "nodes": len(c.nodes),
		"version": version, "quorate": boolInt(online*2 > len(c.nodes))})
	for i, n := range c.nodes {
		out = append(out, map[string]any{"type": "node", "id": "node/" + n.Name, "name": n.Name,
			"nodeid": i + 1, "local": boolInt(i == 0), "online": boolInt(n.Status == "online"),
			"ip": n.IP, "level": n.Level})
	}
	return out, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// getClusterOptions is GET /cluster/options (Cluster.pm 'get_options'):
// datacenter.cfg for callers with Sys.Audit on /, else only console and
// tag-style; always allowed-tags. next-id's lower and upper come back as
// strings, as parse_property_string leaves them (pve-cluster
// src/PVE/DataCenterConfig.pm, pve-common JSONSchema.pm).
func getClusterOptions(s *Server, rc *reqCtx) (any, error) {
	c := s.cluster
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := map[string]any{"allowed-tags": []string{}}
	if !s.canAny(rc, "/", "Sys.Audit") {
		return out, nil
	}
	if n := c.dc.NextID; n != nil {
		nid := map[string]string{}
		if n.Lower != 0 {
			nid["lower"] = strconv.Itoa(n.Lower)
		}
		if n.Upper != 0 {
			nid["upper"] = strconv.Itoa(n.Upper)
		}
		out["next-id"] = nid
	}
	return out, nil
}

// node returns a node's spec; c.mu must be held.
func (c *Cluster) node(name string) (NodeSpec, bool) {
	for _, n := range c.nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeSpec{}, false
}

// nodeClock is the node's idea of now: the simulator's clock plus the
// seed's clock offset, in the node's time zone.
func (c *Cluster) nodeClock(n NodeSpec) time.Time {
	now := c.now()
	if d, err := time.ParseDuration(n.ClockOffset); err == nil {
		now = now.Add(d)
	}
	loc := time.UTC
	if l, err := time.LoadLocation(n.Timezone); err == nil && n.Timezone != "" {
		loc = l
	}
	return now.In(loc)
}

// getNodeTime is GET /nodes/{node}/time (Nodes.pm 'time'): time (epoch
// seconds), localtime (the local wall clock read as if UTC:
// timegm(localtime(time))) and timezone.
func getNodeTime(s *Server, rc *reqCtx) (any, error) {
	c := s.cluster
	return s.withNode(rc, false, func(node string) (any, error) {
		n, _ := c.node(node)
		t := c.nodeClock(n)
		_, off := t.Zone()
		return map[string]any{"time": t.Unix(), "localtime": t.Unix() + int64(off), "timezone": cmpOr(n.Timezone, "UTC")}, nil
	})
}

// kernel is the running kernel a node reports, by PVE major version.
func kernel(major int) (release, version string) {
	if major >= 9 {
		return "6.14.8-2-pve", "#1 SMP PREEMPT_DYNAMIC PMX 6.14.8-2 (2025-07-22T10:04Z)"
	}
	return "6.8.12-4-pve", "#1 SMP PREEMPT_DYNAMIC PMX 6.8.12-4 (2024-11-06T15:04Z)"
}

// getNodeStatus is GET /nodes/{node}/status (Nodes.pm 'status'): every
// field its code sets, typed as PVE sends them — loadavg and cpuinfo's
// mhz, family and hvm are strings (Perl regex captures), the rest numbers.
func getNodeStatus(s *Server, rc *reqCtx) (any, error) {
	c := s.cluster
	return s.withNode(rc, false, func(node string) (any, error) {
		n, _ := c.node(node)
		e := c.nodeEntryLocked(n)
		rel, ver := kernel(c.major)
		const root, rootUsed = int64(100861726720), int64(12884901888)
		swap := int64(8) << 30
		return map[string]any{
			"uptime": e.Uptime, "idle": 0, "cpu": e.CPU, "wait": 0.0012,
			"loadavg":  []string{"0.31", "0.27", "0.22"},
			"kversion": "Linux " + rel + " " + ver,
			"current-kernel": map[string]string{"sysname": "Linux", "release": rel, "version": ver,
				"machine": "x86_64"},
			"boot-info": map[string]any{"mode": "efi", "secureboot": 0},
			"cpuinfo": map[string]any{"user_hz": 100, "vendor": "GenuineIntel", "family": "6",
				"model": "Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz", "mhz": "2400.000", "cpus": e.MaxCPU,
				"sockets": 1, "cores": max(e.MaxCPU/2, 1), "hvm": "1",
				"flags": "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm constant_tsc vmx aes avx avx2"},
			"memory": map[string]int64{"total": e.MaxMem, "used": e.Mem, "free": e.MaxMem - e.Mem,
				"available": e.MaxMem - e.Mem},
			"ksm":        map[string]int64{"shared": 0},
			"swap":       map[string]int64{"total": swap, "used": 0, "free": swap},
			"pveversion": "pve-manager/" + c.version + "/2a5fa54a8503f96d",
			"rootfs": map[string]int64{"total": root, "used": rootUsed, "free": root - rootUsed,
				"avail": root - rootUsed - 5<<30},
		}, nil
	})
}
