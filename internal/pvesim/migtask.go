package pvesim

import (
	"fmt"
	"strings"
	"time"
)

// migPlan is what a migration's worker does, decided when the task
// starts: its log up to the outcome, the error that aborts it, whether
// phase 1 ran (the config is "lock: migrate" while the task runs) and the
// volumes it copies (source volid → volid on the target).
type migPlan struct {
	log    []string
	fail   string
	locked bool
	volmap map[string]string
	local  []localVol
}

// migVolume is a volume of the config as foreach_volid sees it.
type migVolume struct {
	key, volid       string
	cdrom, cloudinit bool
	unused           bool
}

func migVolumes(g *guest) []migVolume {
	var out []migVolume
	for _, k := range sortedKeys(g.conf) {
		v := g.conf[k]
		if !isDiskKey(k) {
			continue
		}
		vol := driveVolume(v)
		if vol == "" {
			continue
		}
		out = append(out, migVolume{key: k, volid: vol, cdrom: isCDROM(v), cloudinit: isCloudInit(v),
			unused: strings.HasPrefix(k, "unused")})
	}
	return out
}

// localVol is a volume on non-shared storage that the migration copies
// to storage tsid of the target node.
type localVol struct {
	volid, tsid, ref string
}

// migLog formats a line as AbstractMigrate's log does.
func (c *Cluster) migLog(level, msg string) string {
	prefix := c.now().Format("2006-01-02 15:04:05")
	if level == "err" {
		prefix += " ERROR:"
	}
	return prefix + " " + msg
}

func migDuration(d time.Duration) string {
	s := int(d.Seconds())
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// planMigration runs QemuMigrate's prepare and phase 1 against the
// current state; c.mu must be held.
func (c *Cluster) planMigration(g *guest, o *migrateOpts) *migPlan {
	p := &migPlan{volmap: map[string]string{}}
	logf := func(level, msg string) { p.log = append(p.log, c.migLog(level, msg)) }
	abort := func(err string) *migPlan {
		logf("err", "migration aborted (duration 00:00:00): "+err)
		p.fail = err
		return p
	}
	// prepare
	if loc := localResources(g); len(loc) > 0 {
		if g.running || !o.force {
			return abort("can't migrate VM which uses local devices: " + strings.Join(loc, ", "))
		}
		logf("info", "migrating VM which uses local devices")
	}
	vols := migVolumes(g)
	for _, v := range vols {
		sid, _, ok := splitVolid(v.volid)
		if !ok {
			continue
		}
		st, err := c.storageEnabled(sid, g.node)
		if err != nil {
			return abort(asAPIError(err).msg)
		}
		tsid := sid
		if !st.Shared {
			tsid = o.smap.mapID(sid)
		}
		if err := c.targetStorageCheck(tsid, o.target, v.volid); err != nil {
			return abort(asAPIError(err).msg)
		}
	}
	if !c.nodeOnline(o.target) {
		return abort("Can't connect to destination address using public key")
	}
	// phase 1
	n, _ := c.node(o.target)
	logf("info", fmt.Sprintf("starting migration of VM %d to node '%s' (%s)", g.vmid, o.target, n.IP))
	p.locked = true
	failPhase1 := func(err string) *migPlan {
		logf("err", err)
		logf("info", "aborting phase 1 - cleanup resources")
		return abort(err)
	}
	local, err := c.scanLocalVolumes(g, o, vols, logf)
	if err != "" {
		return failPhase1("Problem found while scanning volumes - " + err)
	}
	p.local = local
	if len(local) > 0 && !o.online {
		logf("info", "copying local disk images")
	}
	for _, lv := range local {
		sid, name, _ := splitVolid(lv.volid)
		src, _ := c.storage(sid)
		dst, _ := c.storage(lv.tsid)
		nn, err := migratedName(src, dst, name, g.vmid)
		if err != nil {
			return failPhase1(fmt.Sprintf("storage migration for '%s' to storage '%s' failed - %v", lv.volid, lv.tsid, err))
		}
		p.volmap[lv.volid] = lv.tsid + ":" + nn
		logf("info", fmt.Sprintf("volume '%s' is '%s' on the target", lv.volid, p.volmap[lv.volid]))
	}
	if o.online {
		logf("info", fmt.Sprintf("starting VM %d on remote node '%s'", g.vmid, o.target))
	}
	return p
}

// targetStorageCheck is target_storage_check_available: storage tsid is
// enabled on node and takes the volume's content type.
func (c *Cluster) targetStorageCheck(tsid, node, volid string) error {
	st, err := c.storageEnabled(tsid, node)
	if err != nil {
		return err
	}
	sid, name, _ := splitVolid(volid)
	src, _ := c.storage(sid)
	info, err := parseVolname(src, name)
	if err != nil {
		return err
	}
	if !hasContent(st, info.vtype) {
		return fail(500, "%s: content type '%s' is not available on storage '%s'", volid, info.vtype, tsid)
	}
	return nil
}

// migratableTypes are the local storage types scan_local_volumes copies.
var migratableTypes = map[string]bool{"dir": true, "btrfs": true, "zfspool": true, "lvmthin": true, "lvm": true}

// scanLocalVolumes is scan_local_volumes: the local volumes to copy,
// sorted, or the error that stops the migration (after logging what it
// found and each volume's problem).
func (c *Cluster) scanLocalVolumes(g *guest, o *migrateOpts, vols []migVolume, logf func(level, msg string)) ([]localVol, string) {
	local := map[string]*localVol{}
	volErrs := map[string]string{}
	var other []string
	for _, v := range vols {
		switch {
		case v.volid == "none":
			continue
		case v.volid == "cdrom":
			other = append(other, "can't migrate local cdrom drive")
			continue
		}
		sid, name, ok := splitVolid(v.volid)
		if !ok {
			volErrs[v.volid] = "local file/device"
			continue
		}
		st, err := c.storageEnabled(sid, g.node)
		if err != nil {
			volErrs[v.volid] = asAPIError(err).msg
			continue
		}
		tsid := sid
		if !st.Shared {
			tsid = o.smap.mapID(sid)
		}
		if err := c.targetStorageCheck(tsid, o.target, v.volid); err != nil {
			volErrs[v.volid] = asAPIError(err).msg
			continue
		}
		if st.Shared {
			continue
		}
		lv := &localVol{volid: v.volid, tsid: tsid, ref: "attached"}
		switch {
		case v.unused:
			lv.ref = "unused"
		case v.cloudinit || v.key == "tpmstate0":
			lv.ref = "generated"
		}
		local[v.volid] = lv
		if v.cdrom {
			if !v.cloudinit {
				volErrs[v.volid] = "local cdrom image"
			}
			continue
		}
		info, err := parseVolname(st, name)
		switch {
		case err != nil:
			volErrs[v.volid] = asAPIError(err).msg
		case info.owner != g.vmid:
			volErrs[v.volid] = fmt.Sprintf("owned by other VM (owner = VM %d)", info.owner)
		case c.baseUsed(g, v.volid):
			volErrs[v.volid] = "referenced by linked clone(s)"
		}
	}
	ids := sortedKeys(local)
	for _, id := range ids {
		switch lv := local[id]; lv.ref {
		case "attached":
			if o.online && !o.localDisks {
				volErrs[id] = "can't live migrate attached local disks without with-local-disks option"
			}
			logf("info", fmt.Sprintf("found local disk '%s' (attached)", id))
		case "unused":
			logf("info", fmt.Sprintf("found local disk '%s' (unused)", id))
		default:
			logf("info", fmt.Sprintf("found generated disk '%s' (in current VM config)", id))
		}
	}
	for _, id := range sortedKeys(volErrs) {
		logf("warn", fmt.Sprintf("can't migrate local disk '%s': %s", id, volErrs[id]))
	}
	for _, e := range other {
		logf("warn", e)
	}
	if len(volErrs)+len(other) > 0 {
		return nil, "can't migrate VM - check log"
	}
	out := make([]localVol, 0, len(ids))
	for _, id := range ids {
		sid, name, _ := splitVolid(id)
		st, _ := c.storage(sid)
		if !migratableTypes[st.Type] {
			return nil, fmt.Sprintf("can't migrate '%s' - storage type '%s' not supported", id, st.Type)
		}
		if base := linkBase(name); base != "" {
			return nil, fmt.Sprintf("can't migrate '%s' as it's a clone of '%s'", id, base)
		}
		out = append(out, *local[id])
	}
	return out, ""
}

// linkBase is the base volume a linked clone's volume name names ("" if
// none): "base-9000-disk-0.raw" of "9000/base-9000-disk-0.raw/123/vm-…",
// "base-9000-disk-0" of "base-9000-disk-0/vm-…".
func linkBase(name string) string {
	switch parts := strings.Split(name, "/"); len(parts) {
	case 4:
		return parts[1]
	case 2:
		if strings.HasPrefix(parts[0], "base-") {
			return parts[0]
		}
	}
	return ""
}

// migrateTask starts the qmigrate task. A plan that fails ends the task
// with "migration aborted" and leaves the VM where it is (unlocked again
// if phase 1 locked it); otherwise the task's end is phase 3: the disks
// get their volumes on the target, the config moves there and is
// unlocked. Should the target node go offline meanwhile, the copy fails
// and the VM stays. c.mu must be held.
func (c *Cluster) migrateTask(rc *reqCtx, g *guest, o *migrateOpts) string {
	p := c.planMigration(g, o)
	spec := taskSpec{node: g.node, typ: "qmigrate", id: itoa(g.vmid), user: rc.user, log: p.log}
	source := g.node
	if p.locked {
		g.conf["lock"] = "migrate"
		c.onChange()
	}
	spec.rollback = func() {
		if p.locked && c.guests[g.vmid] == g && g.conf["lock"] == "migrate" {
			delete(g.conf, "lock")
		}
	}
	var t *task
	if p.fail != "" {
		spec.failWith = errMigrationAborted.Error()
	} else {
		spec.commit = func() error {
			if c.guests[g.vmid] != g || g.node != source {
				return errMigrationAborted
			}
			if !c.nodeOnline(o.target) {
				err := "Can't connect to destination address using public key"
				if len(p.local) > 0 {
					err = fmt.Sprintf("storage migration for '%s' to storage '%s' failed - no route to host '%s'", p.local[0].volid, p.local[0].tsid, o.target)
					t.log = append(t.log, c.migLog("err", err), c.migLog("info", "aborting phase 1 - cleanup resources"))
				}
				t.log = append(t.log, c.migLog("err", fmt.Sprintf("migration aborted (duration %s): %s", migDuration(c.now().Sub(t.start)), err)))
				return errMigrationAborted
			}
			for _, k := range sortedKeys(g.conf) {
				v := g.conf[k]
				if nv, ok := p.volmap[driveVolume(v)]; ok && isDiskKey(k) {
					_, opts := propList(v)
					g.conf[k] = strings.Join(append([]string{nv}, opts...), ",")
				}
			}
			g.node = o.target
			delete(g.conf, "lock")
			t.log = append(t.log, c.migLog("info", fmt.Sprintf("migration finished successfully (duration %s)", migDuration(c.now().Sub(t.start)))))
			return nil
		}
	}
	upid := c.startTask(spec, rc.tf)
	t = c.tasks[upid]
	return upid
}
