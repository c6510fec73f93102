package pvesim

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Migration follows qemu-server's migrate_vm (src/PVE/API2/Qemu.pm),
// PVE::QemuMigrate (prepare, scan_local_volumes, phase1, phase3_cleanup),
// pve-guest-common's AbstractMigrate::migrate (the task log and its
// "migration aborted") and pve-storage's storage_migrate (volume names).

// migrateOpts are the parameters migrate_vm passes to its worker.
type migrateOpts struct {
	target     string
	online     bool
	force      bool
	localDisks bool // with-local-disks
	smap       *storageMap
}

// migrateQemu is POST /nodes/{node}/qemu/{vmid}/migrate.
func migrateQemu(s *Server, rc *reqCtx) (any, error) {
	vmid, err := rc.vmidVar()
	if err != nil {
		return nil, err
	}
	o, err := parseMigrateParams(rc)
	if err != nil {
		return nil, err
	}
	if o.target == rc.pathValue("node") {
		return nil, paramError(map[string]string{"target": "target is local node."})
	}
	c := s.cluster
	return s.withNode(rc, true, func(node string) (any, error) {
		if !c.hasNode(o.target) {
			return nil, fail(500, "no such cluster node '%s'", o.target)
		}
		// API tokens are users of their own ("root@pam!templated"), so
		// only a root@pam ticket may pass these (HTTPServer.pm).
		for _, k := range []string{"force", "migration_type", "migration_network"} {
			if v := rc.param(k); v != "" && v != "0" && rc.user != rootUser {
				return nil, paramError(map[string]string{k: "Only root may use this option."})
			}
		}
		g, err := c.guestOn(node, vmid, "qemu")
		if err != nil {
			return nil, err
		}
		if err := g.checkLock(); err != nil {
			return nil, err
		}
		if g.running && !o.online {
			return nil, fail(500, "can't migrate running VM without --online")
		}
		o.online = o.online && g.running
		if err := s.checkMigrateStorage(rc, g, o); err != nil {
			return nil, err
		}
		// HA-managed guests would get an "hamigrate" task; the simulator
		// has none.
		return c.migrateTask(rc, g, o), nil
	})
}

// parseMigrateParams checks the parameters as migrate_vm's schema does.
func parseMigrateParams(rc *reqCtx) (*migrateOpts, error) {
	errs := map[string]string{}
	o := &migrateOpts{target: rc.param("target")}
	if !rc.has("target") {
		errs["target"] = "property is missing and it is not optional"
	}
	for k, p := range map[string]*bool{"online": &o.online, "force": &o.force, "with-local-disks": &o.localDisks, "with-conntrack-state": nil} {
		b, err := rc.boolParam(k, false)
		if err != nil {
			errs[k] = asAPIError(err).errors[k]
		} else if p != nil {
			*p = b
		}
	}
	if rc.has("bwlimit") {
		if n, err := strconv.Atoi(rc.param("bwlimit")); err != nil {
			errs["bwlimit"] = fmt.Sprintf("type check ('integer') failed - got '%s'", rc.param("bwlimit"))
		} else if n < 0 {
			errs["bwlimit"] = "value must have a minimum value of 0"
		}
	}
	if t := rc.param("migration_type"); rc.has("migration_type") && t != "secure" && t != "insecure" {
		errs["migration_type"] = fmt.Sprintf("value '%s' does not have a value in the enumeration 'secure, insecure'", t)
	}
	if ts := rc.param("targetstorage"); ts != "" {
		for _, e := range reListSplit.Split(ts, -1) {
			if err := checkStorageEntry(e); e != "" && err != nil {
				errs["targetstorage"] = "invalid format - " + err.Error()
				break
			}
		}
		if errs["targetstorage"] == "" {
			m, err := parseStorageMap(ts)
			if err != nil {
				errs["targetstorage"] = "failed to parse storage map: " + err.Error()
			}
			o.smap = m
		}
	}
	if len(errs) > 0 {
		return nil, paramError(errs)
	}
	return o, nil
}

// checkMigrateStorage is migrate_vm's storage check: with a storage map,
// each target storage must be enabled on the target node, allow the
// caller Datastore.AllocateSpace and hold images (a map other than "1"
// also needs VM.Config.Disk); without one (or with "1") every volume's
// storage must be available on the target node with its content type
// (check_storage_availability). c.mu must be held.
func (s *Server) checkMigrateStorage(rc *reqCtx, g *guest, o *migrateOpts) error {
	c := s.cluster
	if m := o.smap; m != nil && !m.identity {
		if err := s.checkPerm(rc, "/vms/"+itoa(g.vmid), "VM.Config.Disk"); err != nil {
			return err
		}
		for _, sid := range m.targets() {
			st, err := c.storageEnabled(sid, o.target)
			if err != nil {
				return err
			}
			if err := s.checkPerm(rc, "/storage/"+sid, "Datastore.AllocateSpace"); err != nil {
				return err
			}
			if !hasContent(st, "images") {
				return fail(500, "storage '%s' does not support vm images", sid)
			}
		}
		return nil
	}
	for _, k := range sortedKeys(g.conf) {
		if !isDiskKey(k) || strings.HasPrefix(k, "unused") {
			continue
		}
		volid := driveVolume(g.conf[k])
		sid, name, ok := splitVolid(volid)
		if !ok {
			continue // none, cdrom
		}
		st, err := c.storageEnabled(sid, g.node)
		if err != nil {
			return err
		}
		if _, err := c.storageEnabled(sid, o.target); err != nil {
			return err
		}
		info, err := parseVolname(st, name)
		if err != nil {
			return err
		}
		if !hasContent(st, info.vtype) {
			return fail(500, "%s: content type '%s' is not available on storage '%s'", volid, info.vtype, sid)
		}
	}
	return nil
}

// reLocalRes are the config keys check_local_resources counts as local
// devices (QemuMigrate/Helpers.pm).
var reLocalRes = regexp.MustCompile(`^(usb|hostpci|serial|parallel|virtiofs)\d+$`)

// localResources are the devices that keep a VM on its node: passed
// through PCI and USB devices (SPICE USB and mapped PCI devices of a
// stopped VM aside), serial ports other than sockets, parallel ports,
// ivshmem.
func localResources(g *guest) []string {
	var out []string
	for _, k := range sortedKeys(g.conf) {
		v := g.conf[k]
		switch {
		case k == "ivshmem" || k == "hostusb" || k == "hostpci":
			out = append(out, k)
		case strings.HasPrefix(k, "usb") && strings.EqualFold(propGet("x,"+v, "host"), "spice"),
			strings.HasPrefix(k, "serial") && v == "socket",
			strings.HasPrefix(k, "hostpci") && propGet("x,"+v, "mapping") != "" && !g.running:
		case reLocalRes.MatchString(k):
			out = append(out, k)
		}
	}
	return out
}

// errMigrationAborted is the exit status of every failed migration.
var errMigrationAborted = errors.New("migration aborted")
