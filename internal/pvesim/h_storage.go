package pvesim

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// withStorage runs fn on the request's {node}/{storage} under the lock.
func (s *Server) withStorage(rc *reqCtx, write bool, fn func(st StorageSpec) (any, error)) (any, error) {
	c := s.cluster
	defer c.lockCluster(write)()
	node := rc.pathValue("node")
	if err := c.checkNode(node); err != nil {
		return nil, err
	}
	st, ok := c.storage(rc.pathValue("storage"))
	if !ok || !storageOnNode(st, node) {
		return nil, fail(500, "storage '%s' does not exist", rc.pathValue("storage"))
	}
	return fn(st)
}

// storageStatusLocked is one entry of GET /nodes/{node}/storage, as
// pve-storage's storage_info makes it: a storage disabled or not
// available on node is enabled 0; one that is disabled, unavailable or
// inactive is active 0 with zero sizes and no used_fraction.
func (c *Cluster) storageStatusLocked(st StorageSpec, node string) map[string]any {
	e := c.storageEntryLocked(st, node)
	enabled := !st.Disable && storageOnNode(st, node)
	out := map[string]any{"storage": st.Name, "type": st.Type, "content": e.Content, "active": 0,
		"enabled": boolInt(enabled), "shared": e.Shared, "total": 0, "used": 0, "avail": 0}
	if enabled && !st.Inactive {
		out["active"], out["total"], out["used"], out["avail"] = 1, e.MaxDisk, e.Disk, e.MaxDisk-e.Disk
		out["used_fraction"] = float64(e.Disk) / float64(e.MaxDisk)
	}
	return out
}

// listStorage is GET /nodes/{node}/storage (Status.pm 'index'): every
// storage the caller has Datastore.Audit or Datastore.AllocateSpace on;
// with content, only enabled ones holding one of the types; with
// enabled=1, only those not disabled.
func listStorage(s *Server, rc *reqCtx) (any, error) {
	c := s.cluster
	onlyEnabled, err := rc.boolParam("enabled", false)
	if err != nil {
		return nil, err
	}
	return s.withNode(rc, false, func(node string) (any, error) {
		want := reListSplit.Split(rc.param("content"), -1)
		out := []map[string]any{}
		for _, st := range c.storages {
			enabled := !st.Disable && storageOnNode(st, node)
			if rc.param("content") != "" {
				match := false
				for _, w := range want {
					match = match || hasContent(st, w)
				}
				if !match || !enabled {
					continue
				}
			}
			if (onlyEnabled && st.Disable) || (rc.param("storage") != "" && rc.param("storage") != st.Name) ||
				!s.canAny(rc, "/storage/"+st.Name, "Datastore.Audit", "Datastore.AllocateSpace") {
				continue
			}
			out = append(out, c.storageStatusLocked(st, node))
		}
		return out, nil
	})
}

func storageStatus(s *Server, rc *reqCtx) (any, error) {
	return s.withStorage(rc, false, func(st StorageSpec) (any, error) {
		return s.cluster.storageStatusLocked(st, rc.pathValue("node")), nil
	})
}

func listContent(s *Server, rc *reqCtx) (any, error) {
	vmid := atoiDefault(rc.param("vmid"), 0)
	return s.withStorage(rc, false, func(st StorageSpec) (any, error) {
		out := s.cluster.volumesLocked(rc.pathValue("node"), st.Name, rc.param("content"), vmid)
		if out == nil {
			out = []Volume{}
		}
		return out, nil
	})
}

// allocContent is POST …/content (vdisk_alloc): vmid, filename, size.
func allocContent(s *Server, rc *reqCtx) (any, error) {
	fn := rc.param("filename")
	if fn == "" || rc.param("vmid") == "" || rc.param("size") == "" {
		return nil, paramError(map[string]string{"filename": "property is missing and it is not optional"})
	}
	// The volume only exists once a config references it; answer its id.
	return s.withStorage(rc, false, func(st StorageSpec) (any, error) { return st.Name + ":" + fn, nil })
}

func uploadContent(s *Server, rc *reqCtx) (any, error) {
	content := rc.param("content")
	if content == "" {
		return nil, paramError(map[string]string{"content": "property is missing and it is not optional"})
	}
	if rc.upload == nil {
		return nil, paramError(map[string]string{"filename": "property is missing and it is not optional"})
	}
	fn := rc.upload.filename
	if name := rc.param("filename"); name != "" {
		fn = name
	}
	fn = path.Base(strings.ReplaceAll(fn, "\\", "/"))
	return s.addFileTask(rc, "imgcopy", content, fn, rc.upload.size)
}

// addFileTask starts the task that puts an uploaded file into a
// storage's iso, vztmpl or import content.
func (s *Server) addFileTask(rc *reqCtx, typ, content, file string, size int64) (any, error) {
	return s.withStorage(rc, true, func(st StorageSpec) (any, error) {
		return s.cluster.fileTask(rc, st, typ, content, file, size)
	})
}

func (c *Cluster) fileTask(rc *reqCtx, st StorageSpec, typ, content, file string, size int64) (any, error) {
	if content != "iso" && content != "vztmpl" && content != "import" {
		return nil, paramError(map[string]string{"content": fmt.Sprintf("value '%s' does not have a value in the enumeration 'iso, vztmpl, import'", content)})
	}
	if !hasContent(st, content) {
		return nil, fail(500, "storage '%s' does not support '%s' content", st.Name, content)
	}
	if file == "" || strings.HasPrefix(file, ".") {
		return nil, fail(500, "invalid filename '%s'", file)
	}
	f := ISOSpec{Storage: st.Name, Content: content, File: file, Size: size}
	return c.startTask(taskSpec{node: rc.pathValue("node"), typ: typ, user: rc.user,
		log: []string{"target file: " + pvePath(st, content, file)},
		commit: func() error {
			c.files.remove(f) // its bytes, if it was downloaded before
			f.Ctime = c.now().Unix()
			c.isos[f.volid()] = f
			return nil
		}}, rc.tf), nil
}

func deleteContent(s *Server, rc *reqCtx) (any, error) {
	return s.withStorage(rc, true, func(st StorageSpec) (any, error) {
		// Content.pm 'delete': Datastore.Allocate on the volume's storage
		// (backups aside).
		if err := s.checkPerm(rc, "/storage/"+st.Name, "Datastore.Allocate"); err != nil {
			return nil, err
		}
		return s.cluster.deleteISO(rc, st)
	})
}

// deleteISO is DELETE …/content/{volume}: the volume may be a full
// volume id ("local:iso/x.iso", whose storage must be {storage}) or a name
// on {storage} ("iso/x.iso"). As in current PVE the answer is an "imgdel"
// task (id: the storage) whose worker frees the volume.
func (c *Cluster) deleteISO(rc *reqCtx, st StorageSpec) (any, error) {
	vol := rc.pathValue("volume")
	if sid, _, ok := strings.Cut(vol, ":"); ok {
		if sid != st.Name {
			return nil, paramError(map[string]string{"volume": fmt.Sprintf("storage ID mismatch (%s != %s)", sid, st.Name)})
		}
	} else {
		vol = st.Name + ":" + vol
	}
	if _, ok := c.isos[vol]; !ok {
		return nil, fail(500, "volume '%s' does not exist", vol)
	}
	return c.startTask(taskSpec{node: rc.pathValue("node"), typ: "imgdel", id: st.Name, user: rc.user,
		log: []string{fmt.Sprintf("Removed volume '%s'", vol)},
		commit: func() error {
			f, ok := c.isos[vol]
			if !ok {
				return fail(500, "volume '%s' does not exist", vol)
			}
			delete(c.isos, vol)
			c.files.remove(f)
			return nil
		}}, rc.tf), nil
}

// volumePath is where PVE keeps a volume (PVE::Storage::path): a dir
// storage's files under its path (/var/lib/vz for local, /mnt/pve/<id>
// for others), LVM volumes as /dev/<vg>/<name>.
func volumePath(st StorageSpec, name string) string {
	base := storageBase(st)
	if content, file, ok := strings.Cut(name, "/"); ok && contentSubdir[content] != "" {
		return pvePath(st, content, file)
	}
	if fileStorage(st.Type) {
		return base + "/images/" + name
	}
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	if st.Type == "zfspool" {
		return "/dev/zvol/rpool/data/" + name
	}
	return "/dev/pve/" + name
}

// volumeInfo is GET …/storage/{storage}/content/{volume} (pve-storage
// src/PVE/API2/Storage/Content.pm 'info'): path, size, used, format of a
// volume given as a full id ("local:iso/x.iso", whose storage must be
// {storage}) or a name on {storage} ("iso/x.iso").
func volumeInfo(s *Server, rc *reqCtx) (any, error) {
	c := s.cluster
	vol := rc.pathValue("volume")
	if sid, _, ok := strings.Cut(vol, ":"); ok {
		if sid != rc.pathValue("storage") {
			return nil, paramError(map[string]string{"volume": fmt.Sprintf("storage ID mismatch (%s != %s)\n", sid, rc.pathValue("storage"))})
		}
	} else {
		vol = rc.pathValue("storage") + ":" + vol
	}
	return s.withStorage(rc, false, func(st StorageSpec) (any, error) {
		_, name, _ := strings.Cut(vol, ":")
		if err := s.checkVolumeAccess(rc, st, name); err != nil {
			return nil, err
		}
		if f, ok := c.isos[vol]; ok {
			// volume_size_info: qemu-img's virtual size, the file's size as used.
			return map[string]any{"path": volumePath(st, name), "size": f.diskSize(), "used": f.Size, "format": f.qemuFormat()}, nil
		}
		for _, v := range c.volumesLocked(rc.pathValue("node"), st.Name, "", 0) {
			if v.Volid == vol {
				return map[string]any{"path": volumePath(st, name), "size": v.Size, "used": v.Used, "format": v.Format}, nil
			}
		}
		if content, _, _ := strings.Cut(name, "/"); fileStorage(st.Type) && contentSubdir[content] == "" && !reImageName.MatchString(name) {
			return nil, fail(500, "unable to parse directory volume name '%s'", name)
		}
		// file_size_info cannot stat the file: no format.
		return nil, fail(500, "volume_size_info on '%s' failed - no format", vol)
	})
}

var reImageName = regexp.MustCompile(`^\d+/`)

// checkVolumeAccess is pve-storage's check_volume_access for reading a
// volume: Datastore.Allocate on its storage will do; an ISO needs
// Datastore.AllocateSpace or Datastore.Audit; a guest's image needs
// Datastore.Audit and VM.Config.Disk on the guest.
func (s *Server) checkVolumeAccess(rc *reqCtx, st StorageSpec, name string) error {
	a := s.cluster.access
	path := "/storage/" + st.Name
	if a == nil || a.has(rc.user, path, false, "Datastore.Allocate") {
		return nil
	}
	if strings.HasPrefix(name, "iso/") || strings.HasPrefix(name, "vztmpl/") || strings.HasPrefix(name, "import/") {
		return a.check(rc.user, path, true, "Datastore.AllocateSpace", "Datastore.Audit")
	}
	if m := reOwner.FindStringSubmatch(name); m != nil {
		if err := a.check(rc.user, path, false, "Datastore.Audit"); err != nil {
			return err
		}
		return a.check(rc.user, "/vms/"+m[1], false, "VM.Config.Disk")
	}
	return fail(500, "missing privileges to access %s:%s", st.Name, name)
}

var reOwner = regexp.MustCompile(`(?:^|/)(?:vm|base)-(\d+)-`)
