package pvesim

import (
	"errors"
	"fmt"
	"strings"
)

// guestOn finds a guest on the node a request names; c.mu must be held.
// A guest on another node "does not exist" here, as in PVE.
func (c *Cluster) guestOn(node string, vmid int, typ string) (*guest, error) {
	if err := c.checkNode(node); err != nil {
		return nil, err
	}
	g, ok := c.guests[vmid]
	if !ok || g.node != node || g.typ != typ {
		return nil, notExist(node, typ, vmid)
	}
	return g, nil
}

// reqGuest resolves {node}/{vmid} of a request; c.mu must be held.
func (s *Server) reqGuest(rc *reqCtx, typ string) (*guest, error) {
	vmid, err := rc.vmidVar()
	if err != nil {
		return nil, err
	}
	return s.cluster.guestOn(rc.pathValue("node"), vmid, typ)
}

// lockCluster takes the cluster lock (exclusive when write is set) and
// returns its release.
func (c *Cluster) lockCluster(write bool) func() {
	if write {
		c.mu.Lock()
		return c.mu.Unlock
	}
	c.mu.RLock()
	return c.mu.RUnlock
}

// withNode runs fn for the request's {node} under the cluster lock.
func (s *Server) withNode(rc *reqCtx, write bool, fn func(node string) (any, error)) (any, error) {
	defer s.cluster.lockCluster(write)()
	node := rc.pathValue("node")
	if err := s.cluster.checkNode(node); err != nil {
		return nil, err
	}
	return fn(node)
}

// withGuest runs fn on the request's guest under the cluster lock.
func (s *Server) withGuest(rc *reqCtx, typ string, write bool, fn func(g *guest) (any, error)) (any, error) {
	defer s.cluster.lockCluster(write)()
	g, err := s.reqGuest(rc, typ)
	if err != nil {
		return nil, err
	}
	return fn(g)
}

type qemuListEntry struct {
	VMID     int     `json:"vmid"`
	Status   string  `json:"status"`
	Name     string  `json:"name"`
	CPUs     int     `json:"cpus"`
	MaxMem   int64   `json:"maxmem"`
	MaxDisk  int64   `json:"maxdisk"`
	Disk     int64   `json:"disk"`
	Mem      int64   `json:"mem"`
	Uptime   int64   `json:"uptime"`
	CPU      float64 `json:"cpu"`
	NetIn    int64   `json:"netin"`
	NetOut   int64   `json:"netout"`
	Template int     `json:"template,omitempty"`
	Tags     string  `json:"tags,omitempty"`
	Lock     string  `json:"lock,omitempty"`
	PID      int     `json:"pid,omitempty"`
	Type     string  `json:"type,omitempty"`
}

func (c *Cluster) listEntry(g *guest) qemuListEntry {
	st := c.stats(g)
	e := qemuListEntry{VMID: g.vmid, Status: g.status(), Name: g.name(), CPUs: st.maxcpu, MaxMem: st.maxmem,
		MaxDisk: st.maxdisk, Disk: st.disk, Mem: st.mem, Uptime: st.uptime, CPU: st.cpu, NetIn: st.netin,
		NetOut: st.netout, Tags: g.conf["tags"], Lock: g.conf["lock"]}
	if g.isTemplate() {
		e.Template = 1
	}
	if g.running {
		e.PID = g.pid
	}
	if g.typ == "lxc" {
		e.Type = "lxc"
	}
	return e
}

// listGuests lists the guests of a node the caller has VM.Audit on (as
// vmlist does).
func listGuests(s *Server, rc *reqCtx, typ string) (any, error) {
	c := s.cluster
	return s.withNode(rc, false, func(node string) (any, error) {
		out := []qemuListEntry{}
		for _, g := range c.guests {
			if g.node == node && g.typ == typ && s.canAny(rc, "/vms/"+itoa(g.vmid), "VM.Audit") {
				out = append(out, c.listEntry(g))
			}
		}
		return out, nil
	})
}

func listQemu(s *Server, rc *reqCtx) (any, error) { return listGuests(s, rc, "qemu") }
func listLXC(s *Server, rc *reqCtx) (any, error)  { return listGuests(s, rc, "lxc") }

func qemuIndex(s *Server, rc *reqCtx) (any, error) {
	return s.withGuest(rc, "qemu", false, func(*guest) (any, error) {
		return index("subdir", "config", "pending", "status", "agent", "clone", "template", "migrate", "resize", "sendkey"), nil
	})
}

func statusIndex(s *Server, rc *reqCtx) (any, error) {
	return s.withGuest(rc, "qemu", false, func(*guest) (any, error) {
		return index("subdir", "current", "start", "stop", "shutdown", "reboot", "reset", "suspend", "resume"), nil
	})
}

// index is a directory listing: [{key: name}, ...].
func index(key string, names ...string) []map[string]string {
	out := make([]map[string]string, 0, len(names))
	for _, n := range names {
		out = append(out, map[string]string{key: n})
	}
	return out
}

func getGuestConfig(s *Server, rc *reqCtx, typ string) (any, error) {
	current, err := rc.boolParam("current", false)
	if err != nil {
		return nil, err
	}
	return s.withGuest(rc, typ, false, func(g *guest) (any, error) { return g.configView(current), nil })
}

func getQemuConfig(s *Server, rc *reqCtx) (any, error) { return getGuestConfig(s, rc, "qemu") }
func getLXCConfig(s *Server, rc *reqCtx) (any, error)  { return getGuestConfig(s, rc, "lxc") }

func getQemuPending(s *Server, rc *reqCtx) (any, error) {
	return s.withGuest(rc, "qemu", false, func(g *guest) (any, error) { return g.pendingView(), nil })
}

// putQemuConfig is the synchronous update (PUT): {"data":null}.
func putQemuConfig(s *Server, rc *reqCtx) (any, error) {
	u, err := parseUpdate("qemu", rc.params)
	if err != nil {
		return nil, err
	}
	c := s.cluster
	return s.withGuest(rc, "qemu", true, func(g *guest) (any, error) {
		if err := s.updatePerms(rc, g, u); err != nil {
			return nil, err
		}
		if err := c.applyUpdate(g, u); err != nil {
			return nil, err
		}
		c.onChange()
		return nil, nil
	})
}

// postQemuConfig is the asynchronous update (POST): a qmconfig task.
func postQemuConfig(s *Server, rc *reqCtx) (any, error) {
	u, err := parseUpdate("qemu", rc.params)
	if err != nil {
		return nil, err
	}
	c := s.cluster
	return s.withGuest(rc, "qemu", true, func(g *guest) (any, error) {
		if err := s.updatePerms(rc, g, u); err != nil {
			return nil, err
		}
		vmid := g.vmid
		return c.startTask(taskSpec{node: g.node, typ: "qmconfig", id: itoa(vmid), user: rc.user,
			log: []string{fmt.Sprintf("update VM %d: %s", vmid, describeParams(rc.params))},
			commit: func() error {
				if c.guests[vmid] != g {
					return notExist(g.node, "qemu", vmid)
				}
				return c.applyUpdate(g, u)
			}}, rc.tf), nil
	})
}

func describeParams(p map[string][]string) string {
	keys := sortedKeys(p)
	var parts []string
	for _, k := range keys {
		if k == "cipassword" {
			parts = append(parts, "-"+k+" <hidden>")
			continue
		}
		parts = append(parts, fmt.Sprintf("-%s '%s'", k, strings.Join(p[k], ",")))
	}
	return strings.Join(parts, " ")
}

// agentEnabled reports whether the agent option is on ("1", "enabled=1,…").
func agentEnabled(v string) bool {
	head, _ := propList(v)
	head = strings.TrimPrefix(head, "enabled=")
	b, ok := normalizeBool(head)
	return ok && b == "1"
}

func getQemuStatus(s *Server, rc *reqCtx) (any, error) {
	return s.withGuest(rc, "qemu", false, s.cluster.qemuStatus)
}

func (c *Cluster) qemuStatus(g *guest) (any, error) {
	st := c.stats(g)
	out := map[string]any{"vmid": g.vmid, "status": g.status(), "qmpstatus": g.status(), "name": g.name(),
		"cpus": st.maxcpu, "cpu": st.cpu, "maxmem": st.maxmem, "mem": st.mem, "maxdisk": st.maxdisk,
		"disk": st.disk, "netin": st.netin, "netout": st.netout, "diskread": st.diskrd, "diskwrite": st.diskwr,
		"uptime": st.uptime, "ha": map[string]any{"managed": 0}}
	if agentEnabled(g.conf["agent"]) {
		out["agent"] = 1
	}
	if g.isTemplate() {
		out["template"] = 1
	}
	if t := g.conf["tags"]; t != "" {
		out["tags"] = t
	}
	if l := g.conf["lock"]; l != "" {
		out["lock"] = l
	}
	if g.running {
		out["pid"] = g.pid
		out["running-machine"] = "pc-i440fx-9.0+pve0"
		out["running-qemu"] = "9.0.2"
	}
	return out, nil
}

func getLXCStatus(s *Server, rc *reqCtx) (any, error) {
	return s.withGuest(rc, "lxc", false, s.cluster.lxcStatus)
}

func (c *Cluster) lxcStatus(g *guest) (any, error) {
	st := c.stats(g)
	out := map[string]any{"vmid": g.vmid, "status": g.status(), "name": g.name(), "type": "lxc",
		"cpus": st.maxcpu, "cpu": st.cpu, "maxmem": st.maxmem, "mem": st.mem, "maxdisk": st.maxdisk,
		"disk": st.disk, "uptime": st.uptime, "ha": map[string]any{"managed": 0}}
	if g.running {
		out["pid"] = g.pid
	}
	return out, nil
}

// createQemu is POST /nodes/{node}/qemu (Packer's proxmox-iso create).
func createQemu(s *Server, rc *reqCtx) (any, error) {
	if !rc.has("vmid") {
		return nil, paramError(map[string]string{"vmid": "property is missing and it is not optional"})
	}
	vmid, err := parseVMID("vmid", rc.param("vmid"))
	if err != nil {
		return nil, err
	}
	u, err := parseUpdate("qemu", rc.params)
	if err != nil {
		return nil, err
	}
	start, err := rc.boolParam("start", false)
	if err != nil {
		return nil, err
	}
	c := s.cluster
	return s.withNode(rc, true, func(node string) (any, error) {
		if err := s.createPerms(rc, vmid, u, start); err != nil {
			return nil, err
		}
		if old, ok := c.guests[vmid]; ok {
			return nil, fail(500, "unable to create VM %d - VM %d already exists on node '%s'", vmid, vmid, old.node)
		}
		g := &guest{vmid: vmid, node: node, typ: "qemu", conf: map[string]string{}, pending: map[string]string{}, pendDel: map[string]bool{}}
		u.skiplock = true
		// What create_disks' worker finds (a missing import source) fails
		// the task; the rest is answered at once.
		spec := taskSpec{node: node, typ: "qmcreate", id: itoa(vmid), user: rc.user}
		var we *workerError
		if err := c.applyUpdate(g, u); errors.As(err, &we) {
			spec.failWith = fmt.Sprintf("unable to create VM %d - %s", vmid, we.msg)
		} else if err != nil {
			return nil, err
		} else {
			spec.log = c.createLog(u.set, g.conf)
		}
		defaults := map[string]string{"smbios1": withUUID(""), "vmgenid": newUUID(),
			"meta": fmt.Sprintf("creation-qemu=9.0.2,ctime=%d", c.now().Unix())}
		for k, v := range defaults {
			if _, ok := g.conf[k]; !ok {
				g.conf[k] = v
			}
		}
		// As create_and_lock_config does before the worker runs, the
		// config is only "lock: create" until the task has written it.
		full := g.conf
		g.conf = map[string]string{"lock": "create"}
		c.putGuest(g)
		c.onChange()
		spec.commit = func() error {
			g.conf = full
			if start {
				c.startLocked(g)
			}
			return nil
		}
		spec.rollback = func() { c.dropGuest(g) }
		return c.startTask(spec, rc.tf), nil
	})
}

// deleteQemu is DELETE /nodes/{node}/qemu/{vmid} (destroy_vm).
func deleteQemu(s *Server, rc *reqCtx) (any, error) {
	skiplock, err := rc.boolParam("skiplock", false)
	if err != nil {
		return nil, err
	}
	return s.withGuest(rc, "qemu", true, func(g *guest) (any, error) { return s.cluster.destroyTask(rc, g, skiplock) })
}

func (c *Cluster) destroyTask(rc *reqCtx, g *guest, skiplock bool) (any, error) {
	if g.conf["protection"] == "1" {
		return nil, fail(500, "can't remove VM %d - protection mode enabled", g.vmid)
	}
	if g.running {
		return nil, fail(500, "VM %d is running - destroy failed", g.vmid)
	}
	// The worker's checks: lock, then base volumes used by linked clones.
	spec := taskSpec{node: g.node, typ: "qmdestroy", id: itoa(g.vmid), user: rc.user}
	if err := g.checkLock(); err != nil && !skiplock {
		spec.failWith = asAPIError(err).msg
	} else if g.isTemplate() {
		if base := c.linkedCloneUser(g); base != "" {
			spec.failWith = fmt.Sprintf("base volume '%s' is still in use by linked cloned", base)
		}
	}
	if spec.failWith == "" {
		prevLock, hadLock := g.conf["lock"]
		g.conf["lock"] = "destroyed"
		spec.commit = func() error {
			c.dropGuest(g)
			return nil
		}
		spec.rollback = func() {
			if hadLock {
				g.conf["lock"] = prevLock
			} else {
				delete(g.conf, "lock")
			}
		}
		c.onChange()
	}
	return c.startTask(spec, rc.tf), nil
}
