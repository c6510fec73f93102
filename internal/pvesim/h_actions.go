package pvesim

import (
	"fmt"
	"sort"
	"strings"
)

// templateQemu is POST …/template.
func templateQemu(s *Server, rc *reqCtx) (any, error) {
	return s.withGuest(rc, "qemu", true, func(g *guest) (any, error) { return s.cluster.templateTask(rc, g) })
}

func (c *Cluster) templateTask(rc *reqCtx, g *guest) (any, error) {
	if g.isTemplate() {
		return nil, fail(500, "you can't convert a template to a template")
	}
	if g.running {
		return nil, fail(500, "you can't convert a VM to template if VM is running")
	}
	if err := g.checkLock(); err != nil {
		return nil, err
	}
	spec := taskSpec{node: g.node, typ: "qmtemplate", id: itoa(g.vmid), user: rc.user}
	disk := rc.param("disk")
	spec.commit = func() error {
		if g.running {
			return fail(500, "you can't convert a VM to template if VM is running")
		}
		for _, k := range sortedKeys(g.conf) {
			v := g.conf[k]
			if !isDiskKey(k) || strings.HasPrefix(k, "unused") || isCDROM(v) || (disk != "" && k != disk) {
				continue
			}
			g.conf[k] = baseVolume(v)
		}
		g.conf["template"] = "1"
		return nil
	}
	return c.startTask(spec, rc.tf), nil
}

// powerAction handles POST …/status/{action}: the checks happen in the
// worker, so failures are task exit statuses.
func powerAction(action string) handlerFunc {
	typ := map[string]string{"start": "qmstart", "stop": "qmstop", "shutdown": "qmshutdown",
		"reboot": "qmreboot", "reset": "qmreset", "suspend": "qmsuspend", "resume": "qmresume"}[action]
	return func(s *Server, rc *reqCtx) (any, error) {
		vmid, err := rc.vmidVar()
		if err != nil {
			return nil, err
		}
		skiplock, err := rc.boolParam("skiplock", false)
		if err != nil {
			return nil, err
		}
		c := s.cluster
		return s.withNode(rc, true, func(node string) (any, error) {
			spec := taskSpec{node: node, typ: typ, id: itoa(vmid), user: rc.user}
			g, gerr := c.guestOn(node, vmid, "qemu")
			switch {
			case gerr != nil:
				spec.failWith = asAPIError(gerr).msg
			case action == "start" && g.isTemplate():
				spec.failWith = "you can't start a vm if it's a template"
			case !skiplock && g.checkLock() != nil:
				spec.failWith = asAPIError(g.checkLock()).msg
			case action == "start" && g.running:
				spec.failWith = fmt.Sprintf("VM %d already running", vmid)
			case (action == "reboot" || action == "reset" || action == "suspend" || action == "resume") && !g.running:
				spec.failWith = fmt.Sprintf("VM %d not running", vmid)
			}
			if spec.failWith == "" {
				spec.commit = func() error {
					switch action {
					case "start":
						if !g.running {
							c.startLocked(g)
						}
					case "stop", "shutdown":
						g.running = false
					case "reboot":
						c.startLocked(g)
					}
					return nil
				}
			}
			return c.startTask(spec, rc.tf), nil
		})
	}
}

// resizeQemu is PUT …/resize (disk, size "+10G" or "40G"); it returns a task.
func resizeQemu(s *Server, rc *reqCtx) (any, error) {
	disk, size := rc.param("disk"), rc.param("size")
	errs := map[string]string{}
	if disk == "" {
		errs["disk"] = "property is missing and it is not optional"
	}
	if size == "" {
		errs["size"] = "property is missing and it is not optional"
	}
	if len(errs) > 0 {
		return nil, paramError(errs)
	}
	return s.withGuest(rc, "qemu", true, func(g *guest) (any, error) { return s.resizeTask(rc, g, disk, size) })
}

func (s *Server) resizeTask(rc *reqCtx, g *guest, disk, size string) (any, error) {
	c := s.cluster
	if err := g.checkLock(); err != nil {
		return nil, err
	}
	v, ok := g.conf[disk]
	if !ok || isCDROM(v) {
		return nil, fail(500, "disk '%s' does not exist", disk)
	}
	// resize_vm: Datastore.AllocateSpace on the disk's storage.
	if sid, _, ok := splitVolid(driveVolume(v)); ok {
		if err := s.checkPerm(rc, "/storage/"+sid, "Datastore.AllocateSpace"); err != nil {
			return nil, err
		}
	}
	cur := parseSize(propGet(v, "size"), false)
	var want int64
	if strings.HasPrefix(size, "+") {
		want = cur + parseSize(strings.TrimPrefix(size, "+"), true)
	} else {
		want = parseSize(size, true)
	}
	if want < cur {
		return nil, fail(500, "shrinking disks is not supported")
	}
	spec := taskSpec{node: g.node, typ: "resize", id: itoa(g.vmid), user: rc.user,
		commit: func() error {
			g.conf[disk] = propSet(g.conf[disk], "size", formatSize(want))
			return nil
		}}
	return c.startTask(spec, rc.tf), nil
}

// sendKey is PUT …/sendkey (Packer's boot_command).
func sendKey(s *Server, rc *reqCtx) (any, error) {
	if rc.param("key") == "" {
		return nil, paramError(map[string]string{"key": "property is missing and it is not optional"})
	}
	return s.withGuest(rc, "qemu", false, func(g *guest) (any, error) {
		if !g.running {
			return nil, fail(500, "VM %d not running", g.vmid)
		}
		return nil, nil
	})
}

// withAgent runs fn for a request to the guest agent of a running VM.
func (s *Server) withAgent(rc *reqCtx, fn func(g *guest) (any, error)) (any, error) {
	return s.withGuest(rc, "qemu", false, func(g *guest) (any, error) {
		if !agentEnabled(g.conf["agent"]) {
			return nil, fail(500, "No QEMU guest agent configured")
		}
		if !g.running {
			return nil, fail(500, "VM %d is not running", g.vmid)
		}
		return fn(g)
	})
}

func agentPing(s *Server, rc *reqCtx) (any, error) {
	return s.withAgent(rc, func(*guest) (any, error) { return map[string]any{"result": map[string]any{}}, nil })
}

// agentInterfaces answers network-get-interfaces with lo and one NIC per
// netN, the first with an IPv4 address derived from the VMID.
func agentInterfaces(s *Server, rc *reqCtx) (any, error) { return s.withAgent(rc, guestInterfaces) }

func guestInterfaces(g *guest) (any, error) {
	stats := func() map[string]int64 {
		return map[string]int64{"rx-bytes": 0, "rx-dropped": 0, "rx-errs": 0, "rx-packets": 0,
			"tx-bytes": 0, "tx-dropped": 0, "tx-errs": 0, "tx-packets": 0}
	}
	out := []map[string]any{{
		"name": "lo", "hardware-address": "00:00:00:00:00:00", "statistics": stats(),
		"ip-addresses": []map[string]any{
			{"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
			{"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128}},
	}}
	var nets []string
	for k := range g.conf {
		if reNetKey.MatchString(k) {
			nets = append(nets, k)
		}
	}
	sort.Strings(nets)
	for i, k := range nets {
		head, _ := propList(g.conf[k])
		_, mac, _ := strings.Cut(head, "=")
		ip := fmt.Sprintf("10.%d.%d.%d", 10+i, (g.vmid/250)%250, g.vmid%250+2)
		out = append(out, map[string]any{
			"name": fmt.Sprintf("eth%d", i), "hardware-address": strings.ToLower(mac), "statistics": stats(),
			"ip-addresses": []map[string]any{{"ip-address": ip, "ip-address-type": "ipv4", "prefix": 24}},
		})
	}
	return map[string]any{"result": out}, nil
}
