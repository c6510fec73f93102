package pvesim

import (
	"net/url"
	"slices"
	"testing"
)

// doctorSim starts the simulator on testdata/doctor.yaml.
func doctorSim(t *testing.T) *Server {
	t.Helper()
	seed, err := LoadSeed("testdata/doctor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return startSim(t, Options{Seed: seed})
}

// tokenAuth is the Authorization header of one of doctor.yaml's tokens.
func tokenAuth(name string) string {
	secrets := map[string]string{"ok": "6f0f8a52-0000-4000-8000-00000000000a",
		"weak": "6f0f8a52-0000-4000-8000-00000000000b", "legacy": "6f0f8a52-0000-4000-8000-00000000000c"}
	return "PVEAPIToken=templated@pve!" + name + "=" + secrets[name]
}

func permsOf(t *testing.T, r response) map[string]map[string]any {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("permissions: %d %s", r.Status, r.Reason)
	}
	out := map[string]map[string]any{}
	for p, v := range r.data().(map[string]any) {
		out[p] = v.(map[string]any)
	}
	return out
}

// TestBuiltinRolesByVersion: create_roles' roles for PVE 8 (access-control
// 8.2.2) and PVE 9 (9.0.3+).
func TestBuiltinRolesByVersion(t *testing.T) {
	v8, r8 := builtinRoles(8)
	v9, r9 := builtinRoles(9)
	if !v8["VM.Monitor"] || v9["VM.Monitor"] {
		t.Error("VM.Monitor: want valid on 8 only")
	}
	for _, p := range []string{"VM.GuestAgent.Audit", "VM.GuestAgent.FileRead", "VM.GuestAgent.FileWrite",
		"VM.GuestAgent.FileSystemMgmt", "VM.GuestAgent.Unrestricted", "VM.Replicate"} {
		if v8[p] || !v9[p] {
			t.Errorf("%s: want valid on 9 only", p)
		}
	}
	if got := len(v8); got != 42 {
		t.Errorf("PVE 8 has %d privileges, want 42", got)
	}
	if got := len(v9); got != 47 {
		t.Errorf("PVE 9 has %d privileges, want 47", got)
	}
	if !r8["PVEVMAdmin"]["VM.Monitor"] || r9["PVEVMAdmin"]["VM.Monitor"] || !r9["PVEVMAdmin"]["VM.GuestAgent.Unrestricted"] {
		t.Error("PVEVMAdmin contents")
	}
	if got := r9["PVEDatastoreUser"].sorted(); !slices.Equal(got, []string{"Datastore.AllocateSpace", "Datastore.Audit"}) {
		t.Errorf("PVEDatastoreUser = %v", got)
	}
	if got := r9["PVEAuditor"].sorted(); !slices.Equal(got, []string{"Datastore.Audit", "Mapping.Audit", "Pool.Audit",
		"SDN.Audit", "Sys.Audit", "VM.Audit", "VM.GuestAgent.Audit"}) {
		t.Errorf("PVEAuditor = %v", got)
	}
	if r9["PVEAdmin"]["Mapping.Modify"] || r9["PVEAdmin"]["Sys.Modify"] || !r9["PVEAdmin"]["Sys.Console"] {
		t.Error("PVEAdmin: no Mapping.Modify, no root privileges, admin ones yes")
	}
	if !slices.Equal(r8["PVETemplateUser"].sorted(), []string{"VM.Audit", "VM.Clone"}) || len(r9["NoAccess"]) != 0 {
		t.Error("PVETemplateUser / NoAccess")
	}
	for _, name := range []string{"PVESysAdmin", "PVEUserAdmin", "PVEPoolUser", "PVEMappingUser", "PVESDNUser"} {
		if r9[name] == nil {
			t.Errorf("role %s missing", name)
		}
	}
	if r9["PVESysUser"] != nil || r9["PVEUserUser"] != nil {
		t.Error("categories without user privileges have no User role")
	}
}

func newTestAccess(t *testing.T, spec AccessSpec, major int) *access {
	t.Helper()
	a, err := newAccess(&spec, major)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ptr[T any](v T) *T { return &v }

// TestPermissionPropagationAndPrivsep: roles() walks the path and deeper
// entries replace higher ones; non-propagating entries count only on
// their own path; a privilege-separated token gets the intersection with
// its user (propagate flags ANDed), a non-separated one its user's.
func TestPermissionPropagationAndPrivsep(t *testing.T) {
	a := newTestAccess(t, AccessSpec{
		Users:  []UserSpec{{ID: "u@pve"}, {ID: "g@pve"}},
		Groups: []GroupSpec{{Name: "ops", Users: []string{"g@pve"}}},
		Tokens: []TokenSpec{{ID: "u@pve!sep"}, {ID: "u@pve!all", Privsep: ptr(false)}},
		Pools:  []PoolSpec{{Name: "tpl", VMs: []int{9000}}},
		ACLs: []ACLSpec{
			{Path: "/vms", Roles: []string{"PVEVMAdmin"}, Users: []string{"u@pve"}},
			{Path: "/vms/100", Roles: []string{"NoAccess"}, Users: []string{"u@pve"}},
			{Path: "/storage", Roles: []string{"PVEDatastoreUser"}, Users: []string{"u@pve"}, Propagate: ptr(false)},
			{Path: "/", Roles: []string{"Administrator"}, Tokens: []string{"u@pve!sep"}},
			{Path: "/nodes", Roles: []string{"PVEAuditor"}, Groups: []string{"ops"}},
			{Path: "/pool/tpl", Roles: []string{"PVETemplateUser"}, Groups: []string{"ops"}},
		},
	}, 9)
	has := func(who, path, priv string) bool { _, ok := a.permissions(who, path)[priv]; return ok }
	if !has("u@pve", "/vms/9000", "VM.Allocate") || has("u@pve", "/vms/100", "VM.Audit") {
		t.Error("/vms propagates; NoAccess on /vms/100 wins")
	}
	if p := a.permissions("u@pve", "/storage"); p["Datastore.AllocateSpace"] != 0 || !has("u@pve", "/storage", "Datastore.AllocateSpace") {
		t.Errorf("non-propagating ACL on its own path: %v", p)
	}
	if has("u@pve", "/storage/local", "Datastore.AllocateSpace") {
		t.Error("non-propagating ACL reached /storage/local")
	}
	if !has("u@pve!sep", "/vms/9000", "VM.Allocate") || has("u@pve!sep", "/nodes/pve1", "Sys.Audit") || has("u@pve!sep", "/vms/100", "VM.Audit") {
		t.Error("privsep token: intersection of Administrator on / with the user's")
	}
	if !has("u@pve!all", "/vms/9000", "VM.Allocate") || has("u@pve!all", "/", "Sys.Audit") {
		t.Error("token without privsep: exactly the user's")
	}
	if !has("g@pve", "/nodes/pve1", "Sys.Audit") || !has("g@pve", "/vms/9000", "VM.Clone") || has("g@pve", "/vms/9001", "VM.Clone") {
		t.Error("group ACL and pool member roles")
	}
	if p := a.permissions("g@pve", "/vms/9000"); p["VM.Clone"] != 0 {
		t.Error("pool roles never propagate")
	}
	if len(a.permissions("nobody@pve", "/")) != 0 || len(a.permissions("u@pve!gone", "/")) != 0 {
		t.Error("unknown user or token has no privileges")
	}
	if err := a.check("u@pve", "/vms/100", false, "VM.Allocate"); err == nil || err.status != 403 ||
		err.msg != "Permission check failed (/vms/100, VM.Allocate)" {
		t.Errorf("check: %v", err)
	}
	if err := a.check("u@pve", "/vms/100", true, "VM.Audit", "VM.Clone"); err == nil || err.msg != "Permission check failed (/vms/100, VM.Audit|VM.Clone)" {
		t.Errorf("check_any: %v", err)
	}
}

// TestCustomRoleDropsUnknownPrivileges: PVE 9 ignores VM.Monitor in a
// user.cfg role; a name no version knows is a seed error.
func TestCustomRoleDropsUnknownPrivileges(t *testing.T) {
	a := newTestAccess(t, AccessSpec{Roles: []RoleSpec{{Name: "R", Privs: []string{"VM.Monitor", "VM.Audit"}}}}, 9)
	if got := a.roles["R"].sorted(); !slices.Equal(got, []string{"VM.Audit"}) {
		t.Errorf("role R on PVE 9 = %v", got)
	}
	if _, err := newAccess(&AccessSpec{Roles: []RoleSpec{{Name: "R", Privs: []string{"VM.Monitr"}}}}, 9); err == nil {
		t.Error("a typo in a privilege was accepted")
	}
}

// TestAccessPermissionsEndpoint: GET /access/permissions answers for the
// calling token, path → privilege → propagate; path gives one path (even
// empty); another user's needs Sys.Audit on /access.
func TestAccessPermissionsEndpoint(t *testing.T) {
	srv := doctorSim(t)
	hc := httpClient(t, srv)
	if srv.TokenID() != "templated@pve!ok" {
		t.Fatalf("default token %s", srv.TokenID())
	}
	ok := permsOf(t, callAuth(t, srv, hc, "GET", "/access/permissions", nil, tokenAuth("ok")))
	if ok["/"]["VM.Allocate"] != float64(1) || ok["/vms"]["SDN.Use"] != float64(1) || ok["/"]["VM.Monitor"] != nil {
		t.Errorf("ok token: %v", ok["/"])
	}
	weak := permsOf(t, callAuth(t, srv, hc, "GET", "/access/permissions", url.Values{"path": {"/vms/9000"}}, tokenAuth("weak")))
	if len(weak) != 1 || weak["/vms/9000"]["VM.PowerMgmt"] == nil || weak["/vms/9000"]["VM.Allocate"] != nil {
		t.Errorf("weak token on /vms/9000: %v", weak)
	}
	legacy := permsOf(t, callAuth(t, srv, hc, "GET", "/access/permissions", url.Values{"path": {"/vms/9000"}}, tokenAuth("legacy")))
	if legacy["/vms/9000"]["VM.Monitor"] != nil || legacy["/vms/9000"]["VM.GuestAgent.Audit"] != nil || legacy["/vms/9000"]["VM.Allocate"] == nil {
		t.Errorf("legacy token: %v", legacy)
	}
	empty := permsOf(t, callAuth(t, srv, hc, "GET", "/access/permissions", url.Values{"path": {"/access/realm/pam"}}, tokenAuth("weak")))
	if p, found := empty["/access/realm/pam"]; !found || p["Sys.Modify"] != nil {
		t.Errorf("path without privileges: %v", empty)
	}
	r := callAuth(t, srv, hc, "GET", "/access/permissions", url.Values{"userid": {"root@pam"}}, tokenAuth("weak"))
	if r.Status != 403 || r.Reason != "Permission check failed (/access, Sys.Audit)" {
		t.Errorf("other user's permissions: %d %q", r.Status, r.Reason)
	}
	// The default seed: every token is root's.
	def := startSim(t, Options{})
	all := permsOf(t, call(t, def, httpClient(t, def), "GET", "/access/permissions", nil))
	for _, p := range []string{"/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms"} {
		if all[p]["Permissions.Modify"] != float64(1) || all[p]["VM.Monitor"] != float64(1) {
			t.Errorf("default seed %s: %v", p, all[p])
		}
	}
}

// TestPermissionsEnforced: the weak token is refused what its roles lack,
// with PVE's 403 and message, and nothing changes.
func TestPermissionsEnforced(t *testing.T) {
	srv := doctorSim(t)
	hc := httpClient(t, srv)
	weak := tokenAuth("weak")
	for _, tc := range []struct {
		method, path string
		params       url.Values
		msg          string
	}{
		{"POST", "/nodes/pve1/qemu/8001/clone", url.Values{"newid": {"9000"}}, "Permission check failed (/vms/8001, VM.Clone)"},
		{"POST", "/nodes/pve1/qemu", url.Values{"vmid": {"9001"}, "memory": {"2048"}}, "Permission check failed"},
		{"DELETE", "/nodes/pve1/qemu/100", nil, "Permission check failed (/vms/100, VM.Allocate)"},
		{"POST", "/nodes/pve1/qemu/100/template", nil, "Permission check failed (/vms/100, VM.Allocate)"},
		{"PUT", "/nodes/pve1/qemu/100/resize", url.Values{"disk": {"scsi0"}, "size": {"+1G"}}, "Permission check failed (/vms/100, VM.Config.Disk)"},
		{"PUT", "/nodes/pve1/qemu/100/config", url.Values{"memory": {"8192"}}, "Permission check failed (/vms/100, VM.Config.Memory)"},
		{"POST", "/nodes/pve1/storage/local/upload", url.Values{"content": {"iso"}}, "Permission check failed (/storage/local, Datastore.AllocateTemplate)"},
		{"DELETE", "/nodes/pve1/storage/local/content/local:iso/ubuntu-24.04.2-live-server-amd64.iso", nil, "Permission check failed (/storage/local, Datastore.Allocate)"},
		{"POST", "/nodes/pve1/storage/local/download-url", url.Values{"content": {"iso"}, "filename": {"x.iso"}, "url": {"https://example.com/x.iso"}}, "Permission check failed (/storage/local, Datastore.AllocateTemplate)"},
	} {
		r := callAuth(t, srv, hc, tc.method, tc.path, tc.params, weak)
		if r.Status != 403 || r.Reason != tc.msg || r.JSON["message"] != tc.msg+"\n" {
			t.Errorf("%s %s: %d %q %s, want 403 %q", tc.method, tc.path, r.Status, r.Reason, r.Body, tc.msg)
		}
	}
	if r := callAuth(t, srv, hc, "POST", "/nodes/pve1/qemu/100/status/stop", nil, weak); r.Status != 200 {
		t.Errorf("PVEVMUser may stop: %d %s", r.Status, r.Reason)
	}
	// The legacy PVE 8 role lost VM.Monitor: no guest agent on PVE 9.
	r := callAuth(t, srv, hc, "POST", "/nodes/pve1/qemu/100/agent/ping", nil, tokenAuth("legacy"))
	if r.Status != 403 || r.Reason != "Permission check failed (/vms/100, VM.GuestAgent.Audit)" {
		t.Errorf("legacy agent ping: %d %q", r.Status, r.Reason)
	}
	// The ok token may clone (to a storage with images).
	if r := callAuth(t, srv, hc, "POST", "/nodes/pve1/qemu/8001/clone", url.Values{"newid": {"9000"}, "full": {"1"}, "storage": {"local-lvm"}}, tokenAuth("ok")); r.Status != 200 {
		t.Errorf("ok clone: %d %s", r.Status, r.Reason)
	}
	// Lists show only what the token may audit.
	srvList := callAuth(t, srv, hc, "GET", "/nodes/pve1/storage", nil, weak)
	if n := len(srvList.data().([]any)); n != 5 {
		t.Errorf("weak token sees %d storages (PVEAuditor has Datastore.Audit on /storage), want 5", n)
	}
}
