package pvesim

import (
	"sort"
	"strconv"
	"strings"
)

// privGroup is one category of pve-access-control's $privgroups
// (src/PVE/AccessControl.pm): privileges only root should get, those for
// admins, for users and for auditors. The built-in roles are made from it
// as create_roles does.
type privGroup struct {
	cat                      string
	root, admin, user, audit []string
}

// privGroups returns the privilege groups of a PVE major version.
//
// PVE 8: pve-access-control 8.2.2 (the last 8.x, commit 25dd375, shipped
// with PVE 8.4). PVE 9: pve-access-control 9.0.2 added VM.GuestAgent.Audit,
// .FileRead, .FileWrite, .FileSystemMgmt and .Unrestricted (commit 922f710)
// and dropped VM.Monitor (commit 0706945); 9.0.3 added VM.Replicate (commit
// 5f7544f). Sys.AccessNetwork exists since 8.1.2 (commit 36c1814), so in
// both lists. The other categories are the same in both.
func privGroups(major int) []privGroup {
	vm := privGroup{cat: "VM",
		admin: []string{"VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network",
			"VM.Config.HWType", "VM.Config.Options", "VM.Allocate", "VM.Clone", "VM.Migrate", "VM.Monitor",
			"VM.Snapshot", "VM.Snapshot.Rollback"},
		user:  []string{"VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console", "VM.Backup", "VM.PowerMgmt"},
		audit: []string{"VM.Audit"},
	}
	if major >= 9 {
		vm.admin = []string{"VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network",
			"VM.Config.HWType", "VM.Config.Options", "VM.Allocate", "VM.Clone", "VM.GuestAgent.Unrestricted",
			"VM.Migrate", "VM.Replicate", "VM.Snapshot", "VM.Snapshot.Rollback"}
		vm.user = []string{"VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console", "VM.Backup",
			"VM.GuestAgent.FileRead", "VM.GuestAgent.FileSystemMgmt", "VM.GuestAgent.FileWrite", "VM.PowerMgmt"}
		vm.audit = []string{"VM.Audit", "VM.GuestAgent.Audit"}
	}
	return []privGroup{vm,
		{cat: "Sys", root: []string{"Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork"},
			admin: []string{"Sys.Console", "Sys.Syslog"}, audit: []string{"Sys.Audit"}},
		{cat: "Datastore", admin: []string{"Datastore.Allocate", "Datastore.AllocateTemplate"},
			user: []string{"Datastore.AllocateSpace"}, audit: []string{"Datastore.Audit"}},
		{cat: "SDN", admin: []string{"SDN.Allocate", "SDN.Audit"}, user: []string{"SDN.Use"}, audit: []string{"SDN.Audit"}},
		{cat: "User", root: []string{"Realm.Allocate"}, admin: []string{"User.Modify", "Group.Allocate", "Realm.AllocateUser"}},
		{cat: "Pool", admin: []string{"Pool.Allocate"}, user: []string{"Pool.Audit"}, audit: []string{"Pool.Audit"}},
		{cat: "Mapping", admin: []string{"Mapping.Modify"}, user: []string{"Mapping.Use"}, audit: []string{"Mapping.Audit"}},
	}
}

// privSet is a set of privilege names.
type privSet map[string]bool

func (p privSet) sorted() []string {
	out := make([]string, 0, len(p))
	for k := range p {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// builtinRoles returns the valid privileges and the built-in ("special")
// roles of a PVE major version, as create_roles in
// src/PVE/AccessControl.pm makes them: NoAccess (none), Administrator
// (all), PVE<cat>Admin (admin+user+audit), PVEAdmin (every category's
// admin+user+audit but Mapping.Modify), PVE<cat>User (user+audit, for
// categories with user privileges), PVEAuditor (every audit privilege) and
// PVETemplateUser (VM.Clone, VM.Audit).
func builtinRoles(major int) (valid privSet, roles map[string]privSet) {
	valid = privSet{"Permissions.Modify": true}
	roles = map[string]privSet{"NoAccess": {}, "PVEAdmin": {}, "PVEAuditor": {}}
	for _, g := range privGroups(major) {
		for _, list := range [][]string{g.root, g.admin, g.user, g.audit} {
			for _, p := range list {
				valid[p] = true
			}
		}
		admin := privSet{}
		for _, list := range [][]string{g.admin, g.user, g.audit} {
			for _, p := range list {
				admin[p] = true
				roles["PVEAdmin"][p] = true
			}
		}
		roles["PVE"+g.cat+"Admin"] = admin
		if len(g.user) > 0 {
			user := privSet{}
			for _, p := range append(append([]string{}, g.user...), g.audit...) {
				user[p] = true
			}
			roles["PVE"+g.cat+"User"] = user
		}
		for _, p := range g.audit {
			roles["PVEAuditor"][p] = true
		}
	}
	delete(roles["PVEAdmin"], "Mapping.Modify")
	roles["PVETemplateUser"] = privSet{"VM.Clone": true, "VM.Audit": true}
	roles["Administrator"] = valid
	return valid, roles
}

// knownPriv reports whether p is a privilege of PVE 8 or PVE 9.
func knownPriv(p string) bool {
	for _, major := range []int{8, 9} {
		if v, _ := builtinRoles(major); v[p] {
			return true
		}
	}
	return false
}

// majorVersion is the major number of a version string ("9.0.3" → 9).
func majorVersion(v string) int {
	head, _, _ := strings.Cut(v, ".")
	n, _ := strconv.Atoi(head)
	return n
}
