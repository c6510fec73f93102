package pvesim

import (
	"fmt"
	"regexp"
	"strconv"
)

// volInfo is what pve-storage's parse_volname says of a volume name: its
// content type (images, iso, vztmpl, import, backup, snippets), the VM
// owning it (0: none) and its format (for import: the extension, or
// "ova+FMT" for a disk inside an OVA).
type volInfo struct {
	vtype  string
	owner  int
	format string
}

// The volume names of src/PVE/Storage/Plugin.pm's parse_volname (file
// storages), LVMPlugin, LvmThinPlugin, ZFSPoolPlugin and RBDPlugin.
var (
	reDirLinked  = regexp.MustCompile(`^(\d+)/(\S+)/(\d+)/(\S+)$`)
	reDirImage   = regexp.MustCompile(`^(\d+)/(\S+)$`)
	reDirName    = regexp.MustCompile(`^((?:base-)?[^/\s]+\.(raw|qcow2|vmdk|subvol))$`)
	reDirISO     = regexp.MustCompile(`(?i)^iso/[^/]+\.(?:iso|img)$`)
	reDirVztmpl  = regexp.MustCompile(`(?i)^vztmpl/[^/]+\.(?:tar|tar\.(?:gz|xz|zst|bz2))$`)
	reDirBackup  = regexp.MustCompile(`^backup/[^/]+$`)
	reDirSnippet = regexp.MustCompile(`^snippets/[^/]+$`)
	reDirOVADisk = regexp.MustCompile(`^import/[ a-zA-Z0-9\-.+=_]+\.ova/[ a-zA-Z0-9\-.+=_]+\.(qcow2|raw|vmdk)$`)
	reDirImport  = regexp.MustCompile(`^import/[ a-zA-Z0-9\-.+=_]+\.(ova|ovf|qcow2|raw|vmdk)$`)
	reLVMName    = regexp.MustCompile(`^vm-(\d+)-\S+$`)
	reThinName   = regexp.MustCompile(`^(?:vm|base)-(\d+)-\S+$`)
	reZFSName    = regexp.MustCompile(`^(?:(?:base|vm)-\d+-\S+/)?(?:base)?(?:vm|base|subvol|basevol)-(\d+)-[^\s/]+$`)
	reRBDName    = regexp.MustCompile(`^(?:(?:base-\d+-\S+)/)?((?:base)?(?:vm|base)-(\d+)-\S+)$`)
)

// parseVolname is parse_volname for st's plugin type; its errors are
// PVE's.
func parseVolname(st StorageSpec, name string) (volInfo, error) {
	switch st.Type {
	case "lvm":
		if m := reLVMName.FindStringSubmatch(name); m != nil {
			return volInfo{vtype: "images", owner: atoiDefault(m[1], 0), format: "raw"}, nil
		}
		return volInfo{}, fail(500, "unable to parse lvm volume name '%s'", name)
	case "lvmthin":
		if m := reThinName.FindStringSubmatch(name); m != nil {
			return volInfo{vtype: "images", owner: atoiDefault(m[1], 0), format: "raw"}, nil
		}
		return volInfo{}, fail(500, "unable to parse lvm volume name '%s'", name)
	case "zfspool":
		if m := reZFSName.FindStringSubmatch(name); m != nil {
			return volInfo{vtype: "images", owner: atoiDefault(m[1], 0), format: "raw"}, nil
		}
		return volInfo{}, fail(500, "unable to parse zfs volume name '%s'", name)
	case "rbd":
		if m := reRBDName.FindStringSubmatch(name); m != nil {
			return volInfo{vtype: "images", owner: atoiDefault(m[2], 0), format: "raw"}, nil
		}
		return volInfo{}, fail(500, "unable to parse rbd volume name '%s'", name)
	}
	return parseDirVolname(name)
}

func parseDirVolname(name string) (volInfo, error) {
	image := func(owner, file string) (volInfo, error) {
		m := reDirName.FindStringSubmatch(file)
		if m == nil {
			return volInfo{}, fail(500, "unable to parse volume filename '%s'", file)
		}
		n, _ := strconv.Atoi(owner)
		return volInfo{vtype: "images", owner: n, format: m[2]}, nil
	}
	if m := reDirLinked.FindStringSubmatch(name); m != nil {
		return image(m[3], m[4])
	}
	if m := reDirImage.FindStringSubmatch(name); m != nil {
		return image(m[1], m[2])
	}
	switch {
	case reDirISO.MatchString(name):
		return volInfo{vtype: "iso", format: "raw"}, nil
	case reDirVztmpl.MatchString(name):
		return volInfo{vtype: "vztmpl", format: "raw"}, nil
	case reDirBackup.MatchString(name):
		return volInfo{vtype: "backup", format: "raw"}, nil
	case reDirSnippet.MatchString(name):
		return volInfo{vtype: "snippets", format: "raw"}, nil
	}
	if m := reDirOVADisk.FindStringSubmatch(name); m != nil {
		return volInfo{vtype: "import", format: "ova+" + m[1]}, nil
	}
	if m := reDirImport.FindStringSubmatch(name); m != nil {
		return volInfo{vtype: "import", format: m[1]}, nil
	}
	return volInfo{}, fail(500, "unable to parse directory volume name '%s'", name)
}

// checkedFormat is qemu-server's checked_parse_volname check: a volume
// must be in a QEMU image format (an OVA's disk: by its inner format).
func (v volInfo) checkedFormat(volid string) error {
	f := v.format
	if len(f) > 4 && f[:4] == "ova+" {
		f = f[4:]
	}
	switch f {
	case "raw", "qcow", "qcow2", "qed", "vmdk", "cloop": // $QEMU_FORMAT_RE (Drive.pm)
		return nil
	}
	return fail(500, "volume '%s' - not a QEMU image format '%s'", volid, v.format)
}

// workerError is a failure PVE's worker has (the task's exit status), not
// the API call.
type workerError struct{ msg string }

func (e *workerError) Error() string { return e.msg }

func workerFail(format string, args ...any) *workerError {
	return &workerError{msg: fmt.Sprintf(format, args...)}
}
