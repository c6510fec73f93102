package pvesim

import (
	"regexp"
	"sort"
	"strings"
)

// Config keys by the privilege that may set them: qemu-server
// src/PVE/API2/Qemu.pm's $cpuoptions, $memoryoptions, $hwtypeoptions,
// $generaloptions, $vmpoweroptions, $diskoptions, $cloudinitoptions.
var keyPriv = func() map[string]string {
	m := map[string]string{}
	add := func(priv string, keys ...string) {
		for _, k := range keys {
			m[k] = priv
		}
	}
	add("VM.Config.CPU", "cores", "cpu", "runningcpu", "cpulimit", "cpuunits", "numa", "smp", "sockets", "vcpus")
	add("VM.Config.Memory", "memory", "balloon", "shares", "allow-ksm")
	add("VM.Config.HWType", "acpi", "hotplug", "kvm", "machine", "runningmachine", "scsihw", "smbios1", "tablet",
		"vga", "watchdog", "audio0", "rng0")
	add("VM.Config.Options", "agent", "autostart", "bios", "description", "keyboard", "localtime",
		"migrate_downtime", "migrate_speed", "name", "onboot", "ostype", "protection", "reboot", "startdate",
		"startup", "tdf", "template")
	add("VM.PowerMgmt", "freeze")
	add("VM.Config.Disk", "boot", "bootdisk", "vmstatestorage")
	add("VM.Config.Cloudinit", "cicustom", "cipassword", "citype", "ciuser", "ciupgrade", "nameserver",
		"searchdomain", "sshkeys")
	return m
}()

var reSkipKey = regexp.MustCompile(`^(?:unused|serial|usb|hostpci|virtiofs)\d+$`)

// checkConfigKeys is $check_vm_modify_config_perm for the keys set or
// deleted. Drives, serial/usb/hostpci devices and tags are checked
// elsewhere (drives by checkStorageAccess); keys of no category are
// root's ("only root can set 'args' config").
func (s *Server) checkConfigKeys(rc *reqCtx, vmid string, keys []string) error {
	if s.cluster.access == nil {
		return nil
	}
	sort.Strings(keys)
	path := "/vms/" + vmid
	for _, k := range keys {
		switch {
		case isDiskKey(k) || k == "cdrom" || reSkipKey.MatchString(k) || k == "tags":
		case keyPriv[k] != "":
			if err := s.checkPerm(rc, path, keyPriv[k]); err != nil {
				return err
			}
			if k == "startup" {
				if err := s.checkPerm(rc, "/", "Sys.Modify"); err != nil {
					return err
				}
			}
		case reNumaKey.MatchString(k):
			if err := s.checkPerm(rc, path, "VM.Config.CPU"); err != nil {
				return err
			}
		case reNetKey.MatchString(k) || k == "running-nets-host-mtu":
			if err := s.checkPerm(rc, path, "VM.Config.Network"); err != nil {
				return err
			}
		case reIPConfigKey.MatchString(k):
			if !s.canAny(rc, path, "VM.Config.Cloudinit", "VM.Config.Network") {
				return s.cluster.access.check(rc.user, path, true, "VM.Config.Cloudinit", "VM.Config.Network")
			}
		case k == "vmstate":
			if err := s.checkPerm(rc, path, "VM.Config.Disk", "VM.PowerMgmt"); err != nil {
				return err
			}
		default:
			return fail(500, "only root can set '%s' config", k)
		}
	}
	return nil
}

var (
	reNumaKey     = regexp.MustCompile(`^numa\d+$`)
	reIPConfigKey = regexp.MustCompile(`^ipconfig\d+$`)
)

// checkStorageAccess is Qemu.pm's $check_storage_access for the drives a
// create or update sets: a new disk ("STORAGE:SIZE") needs
// Datastore.AllocateSpace on its storage and the storage's images content
// (else 400 storage: "storage 'X' does not support vm images"); an ISO
// needs read access to its storage (pve-storage's check_volume_access:
// Datastore.Allocate, or Datastore.AllocateSpace or Datastore.Audit).
// c.mu must be held.
func (s *Server) checkStorageAccess(rc *reqCtx, set map[string]string) error {
	for _, k := range sortedKeys(set) {
		if !isDiskKey(k) {
			continue
		}
		if err := s.checkDriveAccess(rc, set[k]); err != nil {
			return err
		}
		if err := s.checkImportFrom(rc, k, set[k]); err != nil {
			return err
		}
	}
	return nil
}

// checkDriveAccess is checkStorageAccess for one drive's volume.
func (s *Server) checkDriveAccess(rc *reqCtx, v string) error {
	c := s.cluster
	head, _ := propList(v)
	if reCloudInit.MatchString(head) || head == "none" {
		return nil
	}
	if head == "cdrom" {
		return s.checkPerm(rc, "/", "Sys.Console")
	}
	if m := reAllocDisk.FindStringSubmatch(head); m != nil && !isCDROM(v) {
		if err := s.checkPerm(rc, "/storage/"+m[1], "Datastore.AllocateSpace"); err != nil {
			return err
		}
		st, ok := c.storage(m[1])
		if !ok {
			return fail(500, "storage '%s' does not exist", m[1])
		}
		if !hasContent(st, "images") {
			return paramError(map[string]string{"storage": "storage '" + st.Name + "' does not support vm images"})
		}
		return nil
	}
	sid, name, ok := splitVolid(driveVolume(v))
	if ok && strings.HasPrefix(name, "iso/") && c.access != nil &&
		!c.access.has(rc.user, "/storage/"+sid, false, "Datastore.Allocate") {
		if err := c.access.check(rc.user, "/storage/"+sid, true, "Datastore.AllocateSpace", "Datastore.Audit"); err != nil {
			return err
		}
	}
	return nil
}

// checkBridgeAccess is qemu-server's check_bridge_access with
// pve-guest-common's check_vnet_access: SDN.Use on
// /sdn/zones/localnetwork/BRIDGE, or on …/BRIDGE/TAG for a VLAN tag.
func (s *Server) checkBridgeAccess(rc *reqCtx, set map[string]string) error {
	if s.cluster.access == nil {
		return nil
	}
	for _, k := range sortedKeys(set) {
		if !reNetKey.MatchString(k) {
			continue
		}
		bridge := propGet(set[k], "bridge")
		if bridge == "" {
			continue
		}
		path := "/sdn/zones/localnetwork/" + bridge
		if tag := propGet(set[k], "tag"); tag != "" {
			path += "/" + tag
		}
		if err := s.checkPerm(rc, path, "SDN.Use"); err != nil {
			return err
		}
	}
	return nil
}

// createPerms are create_vm's own checks (Qemu.pm): Datastore.AllocateSpace
// on a storage parameter, VM.PowerMgmt for start, VM.Allocate on
// /vms/VMID or the pool (else a bare "Permission check failed"), then
// the drives, the config keys and the bridges. c.mu must be held.
func (s *Server) createPerms(rc *reqCtx, vmid int, u *configUpdate, start bool) error {
	a := s.cluster.access
	if a == nil {
		return s.checkStorageAccess(rc, u.set) // content types still count
	}
	id := itoa(vmid)
	if rc.has("storage") {
		if err := s.checkPerm(rc, "/storage/"+rc.param("storage"), "Datastore.AllocateSpace"); err != nil {
			return err
		}
	}
	if start {
		if err := s.checkPerm(rc, "/vms/"+id, "VM.PowerMgmt"); err != nil {
			return err
		}
	}
	if !a.has(rc.user, "/vms/"+id, false, "VM.Allocate") &&
		!(rc.has("pool") && a.has(rc.user, "/pool/"+rc.param("pool"), false, "VM.Allocate")) {
		return permError("")
	}
	if err := s.checkStorageAccess(rc, u.set); err != nil {
		return err
	}
	if err := s.checkConfigKeys(rc, id, sortedKeys(u.set)); err != nil {
		return err
	}
	if err := s.checkSerialCreate(rc, id, u.set); err != nil {
		return err
	}
	return s.checkBridgeAccess(rc, u.set)
}

// checkSerialCreate is create_vm's $check_vm_create_serial_perm: a
// "socket" serial port needs VM.Config.HWType; a real device is root@pam's
// alone, which an API token never is.
func (s *Server) checkSerialCreate(rc *reqCtx, vmid string, set map[string]string) error {
	for _, k := range sortedKeys(set) {
		if !reSerialKey.MatchString(k) {
			continue
		}
		if set[k] != "socket" {
			return fail(500, "only root can set '%s' config for real devices", k)
		}
		if err := s.checkPerm(rc, "/vms/"+vmid, "VM.Config.HWType"); err != nil {
			return err
		}
	}
	return nil
}

var reSerialKey = regexp.MustCompile(`^serial\d+$`)

// updatePerms are update_vm's checks: the keys deleted and set, the
// drives, the bridges. c.mu must be held.
func (s *Server) updatePerms(rc *reqCtx, g *guest, u *configUpdate) error {
	if s.cluster.access == nil {
		return s.checkStorageAccess(rc, u.set) // content types still count
	}
	id := itoa(g.vmid)
	if err := s.checkConfigKeys(rc, id, append([]string(nil), u.del...)); err != nil {
		return err
	}
	if err := s.checkConfigKeys(rc, id, sortedKeys(u.set)); err != nil {
		return err
	}
	if err := s.checkStorageAccess(rc, u.set); err != nil {
		return err
	}
	return s.checkBridgeAccess(rc, u.set)
}

// cloneStoragePerms is $check_storage_access_clone: Datastore.AllocateSpace
// on the storage of every disk (or on the target storage).
func (s *Server) cloneStoragePerms(rc *reqCtx, src *guest, storage string) error {
	if s.cluster.access == nil {
		return nil
	}
	for _, k := range sortedKeys(src.conf) {
		v := src.conf[k]
		if !isDiskKey(k) || strings.HasPrefix(k, "unused") || (isCDROM(v) && !isCloudInit(v)) {
			continue
		}
		sid, _, ok := splitVolid(driveVolume(v))
		if !ok || isCDROM(v) {
			continue
		}
		if storage != "" {
			sid = storage
		}
		if err := s.checkPerm(rc, "/storage/"+sid, "Datastore.AllocateSpace"); err != nil {
			return err
		}
	}
	return nil
}
