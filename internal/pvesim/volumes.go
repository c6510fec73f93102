package pvesim

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Volume is one entry of GET /nodes/{node}/storage/{storage}/content.
type Volume struct {
	Volid   string `json:"volid"`
	Content string `json:"content"`
	Format  string `json:"format"`
	Size    int64  `json:"size"`
	Ctime   int64  `json:"ctime,omitempty"`
	VMID    int    `json:"vmid,omitempty"`
	Used    int64  `json:"used,omitempty"`
	Parent  string `json:"parent,omitempty"`
}

// fileStorage reports whether a storage type keeps images as files in
// per-VMID directories ("local:100/vm-100-disk-0.qcow2").
func fileStorage(typ string) bool {
	switch typ {
	case "dir", "nfs", "cifs", "glusterfs", "cephfs", "btrfs":
		return true
	}
	return false
}

// volName is the volume name PVE allocates for disk n of vmid.
func volName(st StorageSpec, vmid, n int, format string, base bool) string {
	prefix := "vm"
	if base {
		prefix = "base"
	}
	name := fmt.Sprintf("%s-%d-disk-%d", prefix, vmid, n)
	if fileStorage(st.Type) {
		if format == "" {
			format = "raw"
		}
		return fmt.Sprintf("%d/%s.%s", vmid, name, format)
	}
	return name
}

// cloudInitName is the name of vmid's cloud-init drive on st; on a
// directory storage its format is part of it ("100/vm-100-cloudinit.qcow2").
func cloudInitName(st StorageSpec, vmid int, format string) string {
	if fileStorage(st.Type) {
		return fmt.Sprintf("%d/vm-%d-cloudinit.%s", vmid, vmid, format)
	}
	return fmt.Sprintf("vm-%d-cloudinit", vmid)
}

// resolveFormat is resolve_format_hint: hint if st's plugin type takes
// it, else its default, raw (directory storages: raw, qcow2, vmdk; ZFS
// and the others raw only, subvol aside).
func resolveFormat(st StorageSpec, hint string) string {
	if fileStorage(st.Type) && (hint == "qcow2" || hint == "vmdk") {
		return hint
	}
	return "raw"
}

// volFormat is the format of a volume name.
func volFormat(st StorageSpec, name string) string {
	if fileStorage(st.Type) {
		if ext := path.Ext(name); ext != "" {
			return strings.TrimPrefix(ext, ".")
		}
	}
	return "raw"
}

// splitVolid splits "storage:name".
func splitVolid(volid string) (string, string, bool) {
	m := reValidVolid.FindStringSubmatch(volid)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// nextDiskIndex returns the lowest disk index not used by vmid's volumes.
func (g *guest) nextDiskIndex(extra map[string]string) int {
	used := map[int]bool{}
	for _, m := range []map[string]string{g.conf, g.pending, extra} {
		for k, v := range m {
			if !isDiskKey(k) {
				continue
			}
			_, name, ok := splitVolid(driveVolume(v))
			if !ok {
				continue
			}
			last := name[strings.LastIndex(name, "/")+1:]
			if mm := reVolVMDisk.FindStringSubmatch(last); mm != nil && mm[1] == strconv.Itoa(g.vmid) {
				n, _ := strconv.Atoi(mm[2])
				used[n] = true
			}
		}
	}
	n := 0
	for used[n] {
		n++
	}
	return n
}

// allocDrive turns the allocation syntaxes of a drive value into a volume:
// "storage:SIZE,opts" (GiB), "storage:0,import-from=SOURCE" and
// "storage:cloudinit". Other values pass.
func (c *Cluster) allocDrive(g *guest, key, v string, extra map[string]string) (string, error) {
	if propGet(v, "import-from") != "" {
		return c.importDrive(g, v, extra)
	}
	head, opts := propList(v)
	if m := reCloudInit.FindStringSubmatch(head); m != nil {
		st, ok := c.storage(m[1])
		if !ok {
			return "", fmt.Errorf("storage '%s' does not exist", m[1])
		}
		out := st.Name + ":" + cloudInitName(st, g.vmid, "qcow2")
		if propGet(v, "media") == "" {
			opts = append(opts, "media=cdrom")
		}
		return strings.Join(append([]string{out}, opts...), ","), nil
	}
	m := reAllocDisk.FindStringSubmatch(head)
	if m == nil {
		return v, nil
	}
	st, ok := c.storage(m[1])
	if !ok {
		return "", fmt.Errorf("storage '%s' does not exist", m[1])
	}
	if !hasContent(st, "images") {
		return "", fmt.Errorf("storage '%s' does not support vm images", st.Name)
	}
	size := parseSize(m[2], true)
	switch key {
	case "efidisk0":
		size = 4 << 20
		if propGet(v, "efitype") != "4m" {
			size = 528 << 10
		}
	case "tpmstate0":
		size = 4 << 20
	}
	n := g.nextDiskIndex(extra)
	var keep []string
	format := ""
	for _, o := range opts {
		if k, val, ok := strings.Cut(o, "="); ok && k == "format" {
			format = val
			continue
		}
		keep = append(keep, o)
	}
	out := st.Name + ":" + volName(st, g.vmid, n, format, false)
	return propSet(strings.Join(append([]string{out}, keep...), ","), "size", formatSize(size)), nil
}

func hasContent(st StorageSpec, content string) bool {
	for _, c := range st.Content {
		if c == content {
			return true
		}
	}
	return false
}

// volumesLocked lists a storage's content on node: its files plus the disk
// volumes referenced by guests on that node (the images a storage holds).
func (c *Cluster) volumesLocked(node, storage, content string, vmid int) []Volume {
	st, ok := c.storage(storage)
	if !ok {
		return nil
	}
	var out []Volume
	for _, f := range c.isos {
		if f.Storage != storage || (content != "" && content != f.kind()) || vmid != 0 {
			continue
		}
		out = append(out, Volume{Volid: f.volid(), Content: f.kind(), Format: f.format(), Size: f.Size, Ctime: f.Ctime})
	}
	for _, g := range c.guests {
		if (!st.Shared && g.node != node) || (vmid != 0 && g.vmid != vmid) {
			continue
		}
		kind := "images"
		if g.typ == "lxc" {
			kind = "rootdir"
		}
		if content != "" && content != kind {
			continue
		}
		for k, v := range g.conf {
			if !(isDiskKey(k) || (g.typ == "lxc" && (k == "rootfs" || strings.HasPrefix(k, "mp")))) {
				continue
			}
			if isCDROM(v) && !isCloudInit(v) {
				continue
			}
			sname, name, ok := splitVolid(driveVolume(v))
			if !ok || sname != storage {
				continue
			}
			vol := Volume{Volid: sname + ":" + name, Content: kind, Format: volFormat(st, name),
				Size: parseSize(propGet(v, "size"), false), VMID: g.vmid}
			if isCloudInit(v) {
				vol.Size = 4 << 20
			}
			vol.Parent = volParent(st, name)
			vol.Used = vol.Size / 4
			out = append(out, vol)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Volid < out[j].Volid })
	return out
}

// volParent is the parent list_images reports for a linked clone's
// volume: the backing file "../9000/base-9000-disk-0.raw" on directory
// storages (Plugin.pm), the origin snapshot "base-9000-disk-0@__base__" on
// ZFS and RBD; LVM-thin reports none.
func volParent(st StorageSpec, name string) string {
	parts := strings.Split(name, "/")
	switch {
	case fileStorage(st.Type) && len(parts) == 4:
		return "../" + parts[0] + "/" + parts[1]
	case (st.Type == "zfspool" || st.Type == "rbd") && len(parts) == 2:
		return parts[0] + "@__base__"
	}
	return ""
}

// linkedCloneUser returns a base volume of template g that another guest's
// disk is a linked clone of ("" when none).
func (c *Cluster) linkedCloneUser(g *guest) string {
	for _, k := range sortedKeys(g.conf) {
		v := g.conf[k]
		if !isDiskKey(k) || isCDROM(v) {
			continue
		}
		if base := driveVolume(v); c.baseUsed(g, base) {
			return base
		}
	}
	return ""
}

// baseUsed is volume_is_base_and_used: another guest than g has a disk
// whose volume names volid as its base.
func (c *Cluster) baseUsed(g *guest, volid string) bool {
	for _, o := range c.guests {
		if o == g {
			continue
		}
		for k, v := range o.conf {
			if isDiskKey(k) && strings.HasPrefix(driveVolume(v), volid+"/") {
				return true
			}
		}
	}
	return false
}

// baseVolume renames a VM's own disk volume to its template base name.
func baseVolume(v string) string {
	head, opts := propList(v)
	i := strings.LastIndex(head, "/")
	j := strings.LastIndex(head, ":")
	cut := max(i, j) + 1
	last := head[cut:]
	if strings.HasPrefix(last, "vm-") && strings.Contains(last, "-disk-") {
		head = head[:cut] + "base-" + strings.TrimPrefix(last, "vm-")
	}
	return strings.Join(append([]string{head}, opts...), ",")
}
