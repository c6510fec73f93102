package pvesim

import (
	"fmt"
	"regexp"
	"strings"
)

// storageEnabled is pve-storage's storage_check_enabled: the storage
// exists, is not disabled and is available on node. c.mu must be held.
func (c *Cluster) storageEnabled(name, node string) (StorageSpec, error) {
	st, ok := c.storage(name)
	switch {
	case !ok:
		return st, fail(500, "storage '%s' does not exist", name)
	case st.Disable:
		return st, fail(500, "storage '%s' is disabled", name)
	case !storageOnNode(st, node):
		return st, fail(500, "storage '%s' is not available on node '%s'", name, node)
	}
	return st, nil
}

// storageMap is a parsed targetstorage parameter (pve-common JSONSchema's
// parse_idmap): "1" maps every storage to itself, "src:dst" pairs map one
// storage each, a lone id is the default for the others.
type storageMap struct {
	identity bool
	def      string
	entries  map[string]string
}

// reStorageID is parse_id's storage ID syntax.
var reStorageID = regexp.MustCompile(`^(?i)[a-z][a-z0-9\-_.]*[a-z0-9]$`)

func checkStorageID(id string) error {
	if len(id) < 2 {
		return fmt.Errorf("storage ID '%s' cannot be shorter than 2 characters", id)
	}
	if !reStorageID.MatchString(id) {
		return fmt.Errorf("storage ID '%s' contains illegal characters", id)
	}
	return nil
}

// checkStorageEntry is the schema's check of one list entry
// (verify_storagepair): its error is "invalid format - …".
func checkStorageEntry(entry string) error {
	if entry == "1" {
		return nil
	}
	ids := []string{entry}
	if src, dst, ok := strings.Cut(entry, ":"); ok {
		if src == "" || dst == "" || strings.Contains(dst, ":") {
			return fmt.Errorf("entry '%s' contains invalid ID - storage ID '%s' contains illegal characters", entry, entry)
		}
		ids = []string{src, dst}
	}
	for _, id := range ids {
		if err := checkStorageID(id); err != nil {
			return fmt.Errorf("entry '%s' contains invalid ID - %w", entry, err)
		}
	}
	return nil
}

// parseStorageMap is parse_idmap over a list whose entries each passed
// checkStorageEntry.
func parseStorageMap(v string) (*storageMap, error) {
	m := &storageMap{entries: map[string]string{}}
	for _, e := range reListSplit.Split(v, -1) {
		if e == "" {
			continue
		}
		src, dst, pair := strings.Cut(e, ":")
		switch {
		case e == "1":
			m.identity = true
		case pair:
			if _, dup := m.entries[src]; dup {
				return nil, fmt.Errorf("duplicate mapping for source '%s'", src)
			}
			m.entries[src] = dst
		default:
			if m.def != "" {
				return nil, fmt.Errorf("default target ID can only be provided once")
			}
			m.def = e
		}
	}
	if m.identity && (m.def != "" || len(m.entries) > 0) {
		return nil, fmt.Errorf("identity mapping cannot be combined with other mappings")
	}
	return m, nil
}

// mapID is map_id: the target of storage sid (itself without a map).
func (m *storageMap) mapID(sid string) string {
	if m == nil {
		return sid
	}
	if t, ok := m.entries[sid]; ok {
		return t
	}
	if m.def != "" {
		return m.def
	}
	return sid
}

// targets are the storages the map names as targets, entries first.
func (m *storageMap) targets() []string {
	var out []string
	for _, k := range sortedKeys(m.entries) {
		out = append(out, m.entries[k])
	}
	if m.def != "" {
		out = append(out, m.def)
	}
	return out
}

// validFormat reports whether a storage type's plugin takes an image
// format (get_formats: directory storages raw, qcow2, vmdk; ZFS raw and
// subvol; the others raw).
func validFormat(st StorageSpec, format string) bool {
	switch {
	case format == "raw":
		return true
	case fileStorage(st.Type):
		return format == "qcow2" || format == "vmdk" || format == "subvol"
	}
	return st.Type == "zfspool" && format == "subvol"
}

// migratedName is the name storage_migrate gives volume name of vmid on
// storage src when it copies it to dst: the same name between storages of
// one type (LVM-thin makes a base volume a base again), else
// $volname_for_storage's "VMID/NAME.FMT" on a directory storage and "NAME"
// elsewhere, NAME without its format extension (base- names stay).
func migratedName(src, dst StorageSpec, name string, vmid int) (string, error) {
	if src.Type == dst.Type {
		return name, nil
	}
	format := volFormat(src, name)
	if !validFormat(dst, format) {
		return "", fmt.Errorf("unsupported format '%s' for storage type %s", format, dst.Type)
	}
	base := strings.TrimSuffix(name[strings.LastIndex(name, "/")+1:], "."+format)
	if fileStorage(dst.Type) {
		return fmt.Sprintf("%d/%s.%s", vmid, base, format), nil
	}
	return base, nil
}
