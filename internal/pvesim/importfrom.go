package pvesim

import (
	"fmt"
	"strings"
)

// checkImportFrom is qemu-server's API2/Qemu.pm $check_storage_access for
// a drive's import-from source, then $check_drive_param's syntax rule.
// A source must be a PVE volume (an absolute path is root@pam's alone, and
// an API token never is root@pam) of content images, or import (PVE 8.3+,
// qemu-server 8.2.7, commit 0d41c7f5); its storage must be readable
// (check_volume_access: Datastore.Allocate, or Datastore.AllocateSpace or
// Datastore.Audit for import) or, for a VM's disk, VM.Clone on that VM. A
// disk in an OVA is extracted on a file storage with images content
// (Datastore.AllocateSpace there). The target must be "STORAGE:0".
// c.mu must be held.
func (s *Server) checkImportFrom(rc *reqCtx, key, v string) error {
	src := propGet(v, "import-from")
	if src == "" {
		return nil
	}
	c := s.cluster
	sid, name, ok := splitVolid(src)
	if !ok {
		return fail(500, "Only root can pass arbitrary filesystem paths.")
	}
	st, found := c.storage(sid)
	if !found {
		return fail(500, "storage '%s' does not exist", sid)
	}
	if !c.versionAtLeast(8, 3) && fileStorage(st.Type) && strings.HasPrefix(name, "import/") {
		// Dir storages learnt import volumes in pve-storage 8.2.8 (d955a46).
		return fail(500, "unable to parse directory volume name '%s'", name)
	}
	vi, err := parseVolname(st, name)
	if err != nil {
		return err
	}
	if vi.vtype == "import" || vi.vtype == "images" {
		if err := vi.checkedFormat(src); err != nil {
			return err
		}
	}
	if !c.versionAtLeast(8, 3) && vi.vtype != "images" {
		return paramError(map[string]string{key: fmt.Sprintf("%s has wrong type '%s' - not an image", src, vi.vtype)})
	}
	if vi.vtype != "images" && vi.vtype != "import" {
		return paramError(map[string]string{key: fmt.Sprintf("%s has wrong type '%s' - needs to be 'images' or 'import'", src, vi.vtype)})
	}
	if strings.HasPrefix(vi.format, "ova+") {
		if err := s.checkExtraction(rc, key, st); err != nil {
			return err
		}
	}
	if a := c.access; a != nil {
		switch {
		case vi.owner != 0:
			if err := s.checkPerm(rc, fmt.Sprintf("/vms/%d", vi.owner), "VM.Clone"); err != nil {
				return err
			}
		case vi.vtype == "import" && !a.has(rc.user, "/storage/"+sid, false, "Datastore.Allocate"):
			if err := a.check(rc.user, "/storage/"+sid, true, "Datastore.AllocateSpace", "Datastore.Audit"); err != nil {
				return err
			}
		case vi.vtype != "import" && !a.has(rc.user, "/storage/"+sid, false, "Datastore.Allocate"):
			return fail(500, "missing privileges to access %s", src)
		}
	}
	head, _ := propList(v)
	if m := reAllocDisk.FindStringSubmatch(head); m == nil || parseSize(m[2], true) != 0 {
		return paramError(map[string]string{key: "'import-from' requires special syntax - use <storage ID>:0,import-from=<source>"})
	}
	switch {
	case key == "efidisk0" && (propGet(v, "efitype") == "" || propGet(v, "pre-enrolled-keys") == ""):
		missing := "efitype"
		if propGet(v, "efitype") != "" {
			missing = "pre-enrolled-keys"
		}
		return paramError(map[string]string{key: fmt.Sprintf("need to specify '%s' when using 'import-from'", missing)})
	case key == "tpmstate0" && propGet(v, "version") == "":
		return paramError(map[string]string{key: "need to specify 'version' when using 'import-from'"})
	}
	return nil
}

// checkExtraction: the OVA's disk is extracted to import-working-storage
// (or the OVA's storage), which must be a file storage with images.
func (s *Server) checkExtraction(rc *reqCtx, key string, src StorageSpec) error {
	ex, param := src, key
	if w := rc.param("import-working-storage"); w != "" {
		st, ok := s.cluster.storage(w)
		if !ok {
			return fail(500, "storage '%s' does not exist", w)
		}
		ex, param = st, "import-working-storage"
	}
	if !hasContent(ex, "images") || !fileStorage(ex.Type) {
		return paramError(map[string]string{param: fmt.Sprintf("import working storage '%s' does not support 'images' content type or is not file based.", ex.Name)})
	}
	if s.cluster.access == nil {
		return nil
	}
	return s.checkPerm(rc, "/storage/"+ex.Name, "Datastore.AllocateSpace")
}

// importSize is what an import-from source holds (the worker's view): an
// import file's virtual size, or a VM disk's size; a missing source is
// the worker's error, worded as PVE's. c.mu must be held.
func (c *Cluster) importSize(src string) (int64, string, error) {
	sid, name, _ := splitVolid(src)
	st, _ := c.storage(sid)
	vi, err := parseVolname(st, name)
	if err != nil {
		return 0, "", err
	}
	if vi.vtype == "import" {
		if strings.HasPrefix(vi.format, "ova+") {
			return 0, "", workerFail("pvesim: extracting disks from OVA archives is not simulated")
		}
		f, ok := c.isos[src]
		if !ok {
			// The untrusted-image check (file_size_info) is the first to look.
			return 0, "", workerFail("failed to stat '%s'", volumePath(st, name))
		}
		return f.diskSize(), vi.format, nil
	}
	for _, g := range c.guests {
		for k, v := range g.conf {
			if isDiskKey(k) && driveVolume(v) == src {
				if size := parseSize(propGet(v, "size"), false); size > 0 {
					return size, vi.format, nil
				}
			}
		}
	}
	return 0, "", workerFail("cannot import from '%s' - could not get size of %s", src, src)
}

// allocAlign is how a storage rounds a new volume up: LVM to its 4 MiB
// extents, ZFS and RBD to MiB (their plugins align), files to sectors.
func allocAlign(st StorageSpec, size int64) int64 {
	align := int64(512)
	switch st.Type {
	case "lvm", "lvmthin":
		align = 4 << 20
	case "zfspool", "rbd":
		align = 1 << 20
	}
	return (size + align - 1) / align * align
}

// importDrive is create_disks for "STORAGE:0,import-from=SOURCE": a full
// clone of the source to a new volume on STORAGE with the source's size;
// import-from and format leave the drive string. On a file storage the
// new volume keeps the source's format (resolve_dst_disk_format) unless
// format says otherwise. c.mu must be held.
func (c *Cluster) importDrive(g *guest, v string, extra map[string]string) (string, error) {
	head, opts := propList(v)
	m := reAllocDisk.FindStringSubmatch(head)
	st, _ := c.storage(m[1])
	size, srcFormat, err := c.importSize(propGet(v, "import-from"))
	if err != nil {
		return "", err
	}
	format := ""
	if fileStorage(st.Type) {
		format = cmpOr(propGet(v, "format"), srcFormat)
		if format != "qcow2" && format != "vmdk" {
			format = "raw"
		}
	}
	keep := []string{st.Name + ":" + volName(st, g.vmid, g.nextDiskIndex(extra), format, false)}
	for _, o := range opts {
		if k, _, _ := strings.Cut(o, "="); k != "import-from" && k != "format" {
			keep = append(keep, o)
		}
	}
	return propSet(strings.Join(keep, ","), "size", formatSize(allocAlign(st, size))), nil
}

// createLog is what create_disks prints for the drives a create made:
// per new, cloud-init or imported drive (in key order), LVM's lvcreate
// line, for an import clone_disk's and qemu-img convert's lines, then
// "KEY: successfully created disk 'VALUE'".
func (c *Cluster) createLog(set, conf map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(set) {
		head, _ := propList(set[k])
		src := propGet(set[k], "import-from")
		if !isDiskKey(k) || (src == "" && !reAllocDisk.MatchString(head) && !reCloudInit.MatchString(head)) {
			continue
		}
		sid, name, _ := splitVolid(driveVolume(conf[k]))
		st, _ := c.storage(sid)
		if src != "" {
			out = append(out, fmt.Sprintf("create full clone of drive (%s)", src))
		}
		if st.Type == "lvm" || st.Type == "lvmthin" {
			out = append(out, fmt.Sprintf("  Logical volume \"%s\" created.", name))
		}
		if src != "" {
			total := renderBytes(parseSize(propGet(conf[k], "size"), false))
			out = append(out, fmt.Sprintf("allocated target volume '%s:%s'", sid, name),
				fmt.Sprintf("transferred 0.0 B of %s (0.00%%)", total),
				fmt.Sprintf("transferred %s of %s (100.00%%)", total, total))
		}
		out = append(out, fmt.Sprintf("%s: successfully created disk '%s'", k, conf[k]))
	}
	return out
}

// renderBytes is PVE::Format::render_bytes with precision 1 ("2.2 GiB").
func renderBytes(n int64) string {
	v, unit := scaled(float64(n))
	if unit == "" {
		return fmt.Sprintf("%.1f B", v)
	}
	return fmt.Sprintf("%.1f %siB", v, unit)
}
