package pvesim

import (
	"cmp"
	"fmt"
	"strings"
)

// Clones follow qemu-server's clone_vm (src/PVE/API2/Qemu.pm) and
// clone_disk (src/PVE/QemuServer.pm), and pve-storage's clone_image of
// each plugin type.

// cloneSkip are the keys clone_vm does not copy besides unusedN: the
// template flag, the lock and snapshot and running state.
var cloneSkip = map[string]bool{"template": true, "lock": true, "parent": true, "snaptime": true,
	"vmstate": true, "snapstate": true, "runningcpu": true, "runningmachine": true, "running-nets-host-mtu": true}

// cloneSpec is what a clone makes.
type cloneSpec struct {
	newid int
	name  string // "": Copy-of-VM-<source name or vmid>
	full  bool
	// storage and format of a full clone ("": the source disk's).
	storage, format string
	// anyLink names linked clones "base-…/vm-…" whatever the storage type
	// (AddLinkedClone); clone_image on LVM-thin keeps no link.
	anyLink bool
}

// cloneConfig is the config of a clone of src: every key but cloneSkip's
// and unused disks (tags, description, meta, cloud-init settings
// included); new MACs, a new smbios1 uuid (added when the source has
// none), a new vmgenid if the source has one; disks cloned by
// cloneDrive, CD-ROM images copied as they are. c.mu must be held.
func (c *Cluster) cloneConfig(src *guest, cs cloneSpec) (map[string]string, error) {
	conf := map[string]string{}
	next := map[string]int{} // per storage: find_free_diskname's next index
	for _, k := range sortedKeys(src.conf) {
		v := src.conf[k]
		switch {
		case cloneSkip[k] || strings.HasPrefix(k, "unused"):
			continue
		case reNetKey.MatchString(k):
			v = withMAC(v, true)
		case k == "vmgenid" && v != "0":
			v = newUUID()
		case isDiskKey(k) && (!isCDROM(v) || isCloudInit(v)):
			nv, err := c.cloneDrive(k, v, cs, next)
			if err != nil {
				return nil, err
			}
			v = nv
		}
		conf[k] = v
	}
	conf["smbios1"] = withUUID(src.conf["smbios1"])
	conf["name"] = cmp.Or(cs.name, "Copy-of-VM-"+cmp.Or(src.conf["name"], itoa(src.vmid)))
	return conf, nil
}

// cloneDrive is the drive of the clone made from drive key = v. A full
// clone, and always a cloud-init drive or TPM state, gets a new volume on
// the target storage (cs.storage, else the source's) in the source's
// format if that storage takes it; a linked clone one clone_image makes
// next to its base volume. The format option goes, size stays (4M for
// cloud-init: the size of the new volume).
func (c *Cluster) cloneDrive(key, v string, cs cloneSpec, next map[string]int) (string, error) {
	vol := driveVolume(v)
	sname, name, ok := splitVolid(vol)
	if !ok {
		return "", fmt.Errorf("unable to parse volume ID '%s'", vol)
	}
	src, ok := c.storage(sname)
	if !ok {
		return "", fmt.Errorf("storage '%s' does not exist", sname)
	}
	var head string
	if cs.full || isCloudInit(v) || key == "tpmstate0" {
		st, ok := c.storage(cmp.Or(cs.storage, sname))
		if !ok {
			return "", fmt.Errorf("storage '%s' does not exist", cmp.Or(cs.storage, sname))
		}
		format := resolveFormat(st, cmp.Or(cs.format, volFormat(src, name)))
		if isCloudInit(v) {
			head = st.Name + ":" + cloudInitName(st, cs.newid, format)
		} else {
			head = st.Name + ":" + volName(st, cs.newid, next[st.Name], format, false)
			next[st.Name]++
		}
	} else {
		head = sname + ":" + linkedName(src, name, cs.newid, next[sname], cs.anyLink)
		next[sname]++
	}
	_, opts := propList(v)
	out := []string{head}
	for _, o := range opts {
		if k, _, _ := strings.Cut(o, "="); k != "format" {
			out = append(out, o)
		}
	}
	res := strings.Join(out, ",")
	if isCloudInit(v) {
		res = propSet(res, "size", formatSize(4<<20))
	}
	return res, nil
}

// linkedName is the volume clone_image makes of base volume base for disk
// n of newid: "BASEVMID/BASE/NEWID/vm-NEWID-disk-N.qcow2" on directory
// storages (Plugin.pm), "BASE/vm-NEWID-disk-N" on ZFS and RBD, and a plain
// "vm-NEWID-disk-N" thin snapshot on LVM-thin (unless anyLink).
func linkedName(st StorageSpec, base string, newid, n int, anyLink bool) string {
	switch {
	case fileStorage(st.Type):
		return base + "/" + volName(st, newid, n, "qcow2", false)
	case st.Type == "lvmthin" && !anyLink:
		return volName(st, newid, n, "", false)
	}
	return base + "/" + volName(st, newid, n, "", false)
}

// canLinkClone is volume_has_feature(clone) without a snapshot: only a base
// volume, on a storage type with clone_image.
func canLinkClone(st StorageSpec, name string) bool {
	switch {
	case fileStorage(st.Type), st.Type == "lvmthin", st.Type == "zfspool", st.Type == "rbd":
		return strings.HasPrefix(name[strings.LastIndex(name, "/")+1:], "base-")
	}
	return false
}

// linkFeatureError is clone_vm's feature check of a linked clone, before
// it forks: every disk but cloud-init and TPM state (which are copied)
// must be a base volume that can be cloned.
func (c *Cluster) linkFeatureError(src *guest) error {
	for _, k := range sortedKeys(src.conf) {
		v := src.conf[k]
		if !isDiskKey(k) || strings.HasPrefix(k, "unused") || isCDROM(v) || k == "tpmstate0" {
			continue
		}
		vol := driveVolume(v)
		sname, name, ok := splitVolid(vol)
		st, found := c.storage(sname)
		if ok && found && !canLinkClone(st, name) {
			return fail(500, "Linked clone feature is not supported for '%s' (%s)", vol, k)
		}
	}
	return nil
}

// sharedVM is $check_storage_access_clone's verdict: every volume the
// config uses (CD-ROM images and cloud-init drives included, unused disks
// not) is on shared storage.
func (c *Cluster) sharedVM(g *guest) bool {
	for k, v := range g.conf {
		if !isDiskKey(k) || strings.HasPrefix(k, "unused") {
			continue
		}
		sname, _, ok := splitVolid(driveVolume(v))
		if !ok {
			continue // none, cdrom
		}
		if st, found := c.storage(sname); !found || !st.Shared {
			return false
		}
	}
	return true
}

// cloneQemu is POST …/clone (clone_vm).
func cloneQemu(s *Server, rc *reqCtx) (any, error) {
	if !rc.has("newid") {
		return nil, paramError(map[string]string{"newid": "property is missing and it is not optional"})
	}
	newid, err := parseVMID("newid", rc.param("newid"))
	if err != nil {
		return nil, err
	}
	if n := rc.param("name"); n != "" && !reDNSName.MatchString(n) {
		return nil, paramError(map[string]string{"name": "invalid format - value does not look like a valid DNS name"})
	}
	switch f := rc.param("format"); {
	case !rc.has("format"), f == "raw", f == "qcow2", f == "vmdk":
	default:
		return nil, paramError(map[string]string{"format": fmt.Sprintf("value '%s' does not have a value in the enumeration 'raw, qcow2, vmdk'", f)})
	}
	if _, err := rc.boolParam("full", false); err != nil {
		return nil, err
	}
	return s.withGuest(rc, "qemu", true, func(src *guest) (any, error) { return s.cloneTask(rc, src, newid) })
}

// cloneTask makes clone_vm's checks in its order ($load_and_check runs
// before the fork, so they are synchronous) and starts the qmclone task.
// The clone's config is "lock: clone" on the source's node while the task
// runs; the task's end unlocks it and moves it to the target node.
func (s *Server) cloneTask(rc *reqCtx, src *guest, newid int) (any, error) {
	c := s.cluster
	target := rc.param("target")
	if target == src.node || target == "localhost" {
		target = ""
	}
	if target != "" && !c.hasNode(target) {
		return nil, fail(500, "no such cluster node '%s'", target)
	}
	storage, format := rc.param("storage"), rc.param("format")
	if storage != "" {
		st, err := c.storageEnabled(storage, src.node)
		if err != nil {
			return nil, err
		}
		if !hasContent(st, "images") {
			return nil, paramError(map[string]string{"storage": fmt.Sprintf("storage '%s' does not support vm images", storage)})
		}
		if target != "" {
			if _, err := c.storageEnabled(storage, target); err != nil {
				return nil, err
			}
			if !st.Shared {
				return nil, fail(500, "can't clone to non-shared storage '%s'", storage)
			}
		}
	}
	// A locked source is a synchronous 500 "VM is locked (backup)".
	if err := src.checkLock(); err != nil {
		return nil, err
	}
	full, _ := rc.boolParam("full", !src.isTemplate())
	if !full && storage != "" {
		return nil, fail(500, "parameter 'storage' not allowed for linked clones")
	}
	if !full && format != "" {
		return nil, fail(500, "parameter 'format' not allowed for linked clones")
	}
	if err := s.cloneStoragePerms(rc, src, storage); err != nil {
		return nil, err
	}
	if target != "" && !c.sharedVM(src) {
		return nil, fail(500, "can't clone VM to node '%s' (VM uses local storage)", target)
	}
	if _, ok := c.guests[newid]; ok {
		return nil, fail(500, "unable to create VM %d: config file already exists", newid)
	}
	if !full {
		if err := c.linkFeatureError(src); err != nil {
			return nil, err
		}
	}
	spec := taskSpec{node: src.node, typ: "qmclone", id: itoa(src.vmid), user: rc.user}
	conf, cerr := c.cloneConfig(src, cloneSpec{newid: newid, name: rc.param("name"), full: full, storage: storage, format: format})
	if cerr != nil {
		// The worker fails; its temporary config is removed again.
		spec.failWith = "clone failed: " + cerr.Error()
		return c.startTask(spec, rc.tf), nil
	}
	// clone_vm sets the description only from a true parameter.
	if d := rc.param("description"); d != "" && d != "0" {
		if d = strings.TrimRight(d, " \t\r\n"); d != "" {
			conf["description"] = d
		} else {
			delete(conf, "description")
		}
	}
	conf["lock"] = "clone"
	ng := &guest{vmid: newid, node: src.node, typ: "qemu", conf: conf, pending: map[string]string{}, pendDel: map[string]bool{}}
	c.putGuest(ng)
	c.onChange()
	spec.log = cloneLog(src, conf, full)
	spec.commit = func() error {
		delete(ng.conf, "lock")
		if target != "" {
			ng.node = target
		}
		return nil
	}
	spec.rollback = func() {
		c.dropGuest(ng)
	}
	return c.startTask(spec, rc.tf), nil
}

// cloneLog is what clone_disk prints for each drive.
func cloneLog(src *guest, conf map[string]string, full bool) []string {
	var out []string
	for _, k := range sortedKeys(src.conf) {
		v := src.conf[k]
		nv, ok := conf[k]
		if !ok || !isDiskKey(k) || (isCDROM(v) && !isCloudInit(v)) {
			continue
		}
		copied := full || isCloudInit(v) || k == "tpmstate0"
		out = append(out, fmt.Sprintf("create %s clone of drive %s (%s)", map[bool]string{true: "full", false: "linked"}[copied], k, driveVolume(v)))
		if copied {
			out = append(out, fmt.Sprintf("allocated target volume '%s'", driveVolume(nv)))
		}
	}
	return out
}
