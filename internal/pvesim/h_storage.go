package pvesim

import (
	"fmt"
	"path"

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

func (c *Cluster) storageStatusLocked(st StorageSpec, node string) map[string]any {
	e := c.storageEntryLocked(st, node)
	return map[string]any{"storage": st.Name, "type": st.Type, "content": e.Content, "active": 1,
		"enabled": 1, "shared": e.Shared, "total": e.MaxDisk, "used": e.Disk, "avail": e.MaxDisk - e.Disk,
		"used_fraction": float64(e.Disk) / float64(e.MaxDisk)}
}

func listStorage(s *Server, rc *reqCtx) (any, error) {
	c := s.cluster
	return s.withNode(rc, false, func(node string) (any, error) {
		want := rc.param("content")
		out := []map[string]any{}
		for _, st := range c.storages {
			if !storageOnNode(st, node) || (want != "" && !hasContent(st, want)) {
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
	return s.addFileTask(rc, "imgcopy", content, fn, rc.upload.size, "")
}

func downloadURL(s *Server, rc *reqCtx) (any, error) {
	errs := map[string]string{}
	for _, k := range []string{"content", "filename", "url"} {
		if rc.param(k) == "" {
			errs[k] = "property is missing and it is not optional"
		}
	}
	if len(errs) > 0 {
		return nil, paramError(errs)
	}
	return s.addFileTask(rc, "download", rc.param("content"), rc.param("filename"), 1<<30, rc.param("url"))
}

// addFileTask starts the task that puts an uploaded or downloaded file
// into a storage's iso content.
func (s *Server) addFileTask(rc *reqCtx, typ, content, file string, size int64, url string) (any, error) {
	return s.withStorage(rc, true, func(st StorageSpec) (any, error) {
		return s.cluster.fileTask(rc, st, typ, content, file, size, url)
	})
}

func (c *Cluster) fileTask(rc *reqCtx, st StorageSpec, typ, content, file string, size int64, url string) (any, error) {
	if content != "iso" && content != "vztmpl" && content != "import" {
		return nil, paramError(map[string]string{"content": fmt.Sprintf("value '%s' does not have a value in the enumeration 'iso, vztmpl, import'", content)})
	}
	if !hasContent(st, content) {
		return nil, fail(500, "storage '%s' does not support '%s' content", st.Name, content)
	}
	if file == "" || strings.HasPrefix(file, ".") {
		return nil, fail(500, "invalid filename '%s'", file)
	}
	spec := taskSpec{node: rc.pathValue("node"), typ: typ, user: rc.user,
		log: []string{fmt.Sprintf("target file: /var/lib/vz/template/iso/%s", file)},
		commit: func() error {
			c.isos[isoVolid(st.Name, file)] = ISOSpec{Storage: st.Name, File: file, Size: size, Ctime: c.now().Unix()}
			return nil
		}}
	if url != "" {
		spec.log = append(spec.log, "downloading "+url)
	}
	return c.startTask(spec, rc.tf), nil
}

func deleteContent(s *Server, rc *reqCtx) (any, error) {
	return s.withStorage(rc, true, func(st StorageSpec) (any, error) { return s.cluster.deleteISO(rc, st) })
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
			if _, ok := c.isos[vol]; !ok {
				return fail(500, "volume '%s' does not exist", vol)
			}
			delete(c.isos, vol)
			return nil
		}}, rc.tf), nil
}
