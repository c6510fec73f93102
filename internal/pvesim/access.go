package pvesim

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// AccessSpec is the simulated user.cfg: users, groups, API tokens, custom
// roles, pools and ACLs. Without it (the default seed) every token may do
// everything, as root@pam's non-separated tokens may on PVE.
type AccessSpec struct {
	Users  []UserSpec  `yaml:"users,omitempty" json:"users,omitempty"`
	Groups []GroupSpec `yaml:"groups,omitempty" json:"groups,omitempty"`
	Tokens []TokenSpec `yaml:"tokens,omitempty" json:"tokens,omitempty"`
	// Roles are custom roles; the built-in ones (Administrator, PVEAdmin,
	// PVEVMAdmin, PVEDatastoreUser, PVEAuditor, ...) always exist.
	Roles []RoleSpec `yaml:"roles,omitempty" json:"roles,omitempty"`
	Pools []PoolSpec `yaml:"pools,omitempty" json:"pools,omitempty"`
	ACLs  []ACLSpec  `yaml:"acls,omitempty" json:"acls,omitempty"`
}

// UserSpec is a user ("templated@pve"). root@pam always exists.
type UserSpec struct {
	ID string `yaml:"id" json:"id"`
}

// GroupSpec is a group and its members (user ids).
type GroupSpec struct {
	Name  string   `yaml:"name" json:"name"`
	Users []string `yaml:"users,omitempty" json:"users,omitempty"`
}

// TokenSpec is an API token of a declared user (or root@pam).
type TokenSpec struct {
	ID string `yaml:"id" json:"id"` // USER@REALM!TOKENID
	// Secret is accepted as the token's secret; empty means it must come
	// from Options.Tokens.
	Secret string `yaml:"secret,omitempty" json:"secret,omitempty"`
	// Privsep is privilege separation (default true, as `pveum user token
	// add` defaults it): the token gets the intersection of its own ACLs
	// and its user's. Off, it has exactly its user's privileges.
	Privsep *bool `yaml:"privsep,omitempty" json:"privsep,omitempty"`
}

// RoleSpec is a custom role. Privileges the seed's PVE version does not
// know (VM.Monitor on PVE 9) are ignored, as PVE ignores them in user.cfg
// ("user config - ignore invalid privilege"); names neither PVE 8 nor 9
// knows are seed errors.
type RoleSpec struct {
	Name  string   `yaml:"name" json:"name"`
	Privs []string `yaml:"privs" json:"privs"`
}

// PoolSpec is a resource pool: ACLs on /pool/<name> apply (without
// propagation) to its VMs and storages.
type PoolSpec struct {
	Name    string   `yaml:"name" json:"name"`
	VMs     []int    `yaml:"vms,omitempty" json:"vms,omitempty"`
	Storage []string `yaml:"storage,omitempty" json:"storage,omitempty"`
}

// ACLSpec is one ACL line: roles on a path for users, groups and tokens.
type ACLSpec struct {
	Path   string   `yaml:"path" json:"path"`
	Roles  []string `yaml:"roles" json:"roles"`
	Users  []string `yaml:"users,omitempty" json:"users,omitempty"`
	Groups []string `yaml:"groups,omitempty" json:"groups,omitempty"`
	Tokens []string `yaml:"tokens,omitempty" json:"tokens,omitempty"`
	// Propagate defaults to true, as `pveum acl modify` does.
	Propagate *bool `yaml:"propagate,omitempty" json:"propagate,omitempty"`
}

const rootUser = "root@pam"

var (
	reUserID  = regexp.MustCompile(`^[^\s:/@!]+@[A-Za-z][A-Za-z0-9._-]*$`)
	reACLPath = regexp.MustCompile(`^/(?:[A-Za-z0-9_.:-]+(?:/[A-Za-z0-9_.:-]+)*)?$`)
)

// aclNode is one node of the ACL tree (acl_root in AccessControl.pm):
// per user, group and token the roles set here and their propagate flag.
type aclNode struct {
	children map[string]*aclNode
	users    map[string]map[string]int
	groups   map[string]map[string]int
	tokens   map[string]map[string]int
}

func newACLNode() *aclNode {
	return &aclNode{children: map[string]*aclNode{}, users: map[string]map[string]int{},
		groups: map[string]map[string]int{}, tokens: map[string]map[string]int{}}
}

// access is the permission model computed from an AccessSpec.
type access struct {
	spec   *AccessSpec
	major  int
	valid  privSet
	roles  map[string]privSet
	users  map[string]bool
	groups map[string]map[string]bool // group → members
	tokens map[string]bool            // token id → privsep
	acl    *aclNode
}

// newAccess builds the model, failing on what PVE would not accept into
// user.cfg (or what is surely a seed mistake).
func newAccess(spec *AccessSpec, major int) (*access, error) {
	valid, builtin := builtinRoles(major)
	a := &access{spec: spec, major: major, valid: valid, roles: builtin, users: map[string]bool{rootUser: true},
		groups: map[string]map[string]bool{}, tokens: map[string]bool{}, acl: newACLNode()}
	for _, u := range spec.Users {
		if !reUserID.MatchString(u.ID) {
			return nil, fmt.Errorf("access: user %q: want NAME@REALM", u.ID)
		}
		a.users[u.ID] = true
	}
	for _, g := range spec.Groups {
		a.groups[g.Name] = map[string]bool{}
		for _, u := range g.Users {
			if !a.users[u] {
				return nil, fmt.Errorf("access: group %s: unknown user %q", g.Name, u)
			}
			a.groups[g.Name][u] = true
		}
	}
	for _, t := range spec.Tokens {
		user, _, ok := strings.Cut(t.ID, "!")
		if !ok || !reTokenID.MatchString(t.ID) {
			return nil, fmt.Errorf("access: token %q: want USER@REALM!TOKENID", t.ID)
		}
		if !a.users[user] {
			return nil, fmt.Errorf("access: token %s: unknown user %q", t.ID, user)
		}
		a.tokens[t.ID] = t.Privsep == nil || *t.Privsep
	}
	for _, r := range spec.Roles {
		if _, ok := builtin[r.Name]; ok {
			return nil, fmt.Errorf("access: role %s: a built-in role cannot be redefined", r.Name)
		}
		set := privSet{}
		for _, p := range r.Privs {
			if !knownPriv(p) {
				return nil, fmt.Errorf("access: role %s: invalid privilege '%s'", r.Name, p)
			}
			if valid[p] {
				set[p] = true
			}
		}
		a.roles[r.Name] = set
	}
	for i, e := range spec.ACLs {
		if err := a.addACL(e); err != nil {
			return nil, fmt.Errorf("access: acls[%d]: %w", i, err)
		}
	}
	return a, nil
}

func (a *access) addACL(e ACLSpec) error {
	if !reACLPath.MatchString(e.Path) {
		return fmt.Errorf("invalid ACL path %q", e.Path)
	}
	prop := 1
	if e.Propagate != nil && !*e.Propagate {
		prop = 0
	}
	n := a.acl
	for _, seg := range strings.Split(strings.Trim(e.Path, "/"), "/") {
		if seg == "" {
			continue
		}
		if n.children[seg] == nil {
			n.children[seg] = newACLNode()
		}
		n = n.children[seg]
	}
	set := func(m map[string]map[string]int, who string) {
		if m[who] == nil {
			m[who] = map[string]int{}
		}
		for _, r := range e.Roles {
			m[who][r] = prop
		}
	}
	for _, r := range e.Roles {
		if _, ok := a.roles[r]; !ok {
			return fmt.Errorf("unknown role %q", r)
		}
	}
	for _, u := range e.Users {
		if !a.users[u] {
			return fmt.Errorf("unknown user %q", u)
		}
		set(n.users, u)
	}
	for _, g := range e.Groups {
		if a.groups[g] == nil {
			return fmt.Errorf("unknown group %q", g)
		}
		set(n.groups, g)
	}
	for _, t := range e.Tokens {
		if _, ok := a.tokens[t]; !ok {
			return fmt.Errorf("unknown token %q", t)
		}
		set(n.tokens, t)
	}
	return nil
}

// rolesAt is AccessControl::roles: walking the path from /, a level's
// entries for the token, else the user, else the user's groups replace
// what was found above; entries above the last level count only when they
// propagate. NoAccess wins.
func (a *access) rolesAt(who, path string) map[string]int {
	roles := map[string]int{}
	segs := []string{""}
	if path != "/" {
		segs = strings.Split(path, "/")
	}
	n := a.acl
	for i, seg := range segs {
		final := i == len(segs)-1
		if seg != "" && n != nil {
			n = n.children[seg]
		}
		if n == nil {
			continue
		}
		pick := func(ri map[string]int) bool {
			found := false
			next := map[string]int{}
			for role, prop := range ri {
				if final || prop == 1 {
					next[role] = prop
					found = true
				}
			}
			if found {
				roles = next
			}
			return found
		}
		if ri := n.tokens[who]; ri != nil && pick(ri) {
			continue
		}
		if ri := n.users[who]; ri != nil && pick(ri) {
			continue
		}
		merged := map[string]int{}
		for g, ri := range n.groups {
			if !a.groups[g][who] {
				continue
			}
			for role, prop := range ri {
				if final || prop == 1 {
					merged[role] = prop
				}
			}
		}
		if len(merged) > 0 {
			roles = merged
		}
	}
	if p, ok := roles["NoAccess"]; ok {
		return map[string]int{"NoAccess": p}
	}
	return roles
}

// poolRolesAt are the roles a pool gives who on a member path
// (/vms/<vmid>, /storage/<id>) — compile_acl_path's poolroles.
func (a *access) poolRolesAt(who, path string) map[string]bool {
	out := map[string]bool{}
	for _, p := range a.spec.Pools {
		member := false
		for _, id := range p.VMs {
			member = member || path == "/vms/"+strconv.Itoa(id)
		}
		for _, sid := range p.Storage {
			member = member || path == "/storage/"+sid
		}
		if !member {
			continue
		}
		for r := range a.rolesAt(who, "/pool/"+p.Name) {
			out[r] = true
		}
	}
	return out
}

// compile is RPCEnvironment's compile_acl_path: the privileges of who
// (a user or a privilege-separated token) on path, each with its
// propagate flag; a token's are intersected with its user's.
func (a *access) compile(who, path string) map[string]int {
	roles := a.rolesAt(who, path)
	if _, no := roles["NoAccess"]; !no {
		pr := a.poolRolesAt(who, path)
		if pr["NoAccess"] {
			roles = map[string]int{"NoAccess": 0}
		} else {
			for r := range pr {
				if _, ok := roles[r]; !ok {
					roles[r] = 0
				}
			}
		}
	}
	privs := map[string]int{}
	for role, prop := range roles {
		for p := range a.roles[role] {
			if privs[p] == 0 {
				privs[p] = prop
			}
		}
	}
	if user, _, isToken := strings.Cut(who, "!"); isToken && user != rootUser {
		up := a.permissions(user, path)
		for p, v := range privs {
			if uv, ok := up[p]; ok {
				privs[p] = min(uv, v)
			} else {
				delete(privs, p)
			}
		}
	}
	return privs
}

// permissions is RPCEnvironment::permissions: root@pam has every
// privilege; a token without privilege separation has its user's; an
// unknown user or token has none.
func (a *access) permissions(who, path string) map[string]int {
	if who == rootUser {
		out := map[string]int{}
		for p := range a.valid {
			out[p] = 1
		}
		return out
	}
	if user, _, isToken := strings.Cut(who, "!"); isToken {
		privsep, ok := a.tokens[who]
		if !ok {
			return map[string]int{}
		}
		if !privsep {
			return a.permissions(user, path)
		}
	} else if !a.users[who] {
		return map[string]int{}
	}
	return a.compile(who, path)
}

// effective is get_effective_permissions: every top-level path, every
// path of the ACL tree and every pool member path, with the privileges
// who has there; paths without any are left out.
func (a *access) effective(who string) map[string]map[string]int {
	paths := map[string]bool{"/": true, "/access": true, "/access/groups": true, "/nodes": true,
		"/pool": true, "/sdn": true, "/storage": true, "/vms": true}
	var walk func(prefix string, n *aclNode)
	walk = func(prefix string, n *aclNode) {
		paths[cmpOr(prefix, "/")] = true
		for seg, c := range n.children {
			walk(prefix+"/"+seg, c)
		}
	}
	walk("", a.acl)
	for _, p := range a.spec.Pools {
		for _, id := range p.VMs {
			paths["/vms/"+strconv.Itoa(id)] = true
		}
		for _, sid := range p.Storage {
			paths["/storage/"+sid] = true
		}
	}
	out := map[string]map[string]int{}
	for p := range paths {
		if privs := a.permissions(who, p); len(privs) > 0 {
			out[p] = privs
		}
	}
	return out
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// permError is PVE::Exception's raise_perm_exc: 403 "Permission check
// failed (PATH, PRIV)", or without the parenthesis when what is empty.
func permError(what string) *apiError {
	if what == "" {
		return fail(403, "Permission check failed")
	}
	return fail(403, "Permission check failed (%s)", what)
}

// has reports whether who has every one of privs (any: one of them) on
// path. A nil model allows everything.
func (a *access) has(who, path string, any bool, privs ...string) bool {
	if a == nil {
		return true
	}
	perm := a.permissions(who, path)
	for _, p := range privs {
		_, ok := perm[p]
		if any && ok {
			return true
		}
		if !any && !ok {
			return false
		}
	}
	return !any || len(privs) == 0
}

// check is RPCEnvironment::check (any: check_any): nil or PVE's 403.
func (a *access) check(who, path string, any bool, privs ...string) *apiError {
	if a.has(who, path, any, privs...) {
		return nil
	}
	if any {
		return permError(path + ", " + strings.Join(privs, "|"))
	}
	perm := a.permissions(who, path)
	for _, p := range privs {
		if _, ok := perm[p]; !ok {
			return permError(path + ", " + p)
		}
	}
	return nil
}

// sortedPaths lists a permissions answer's paths in order (for tests and
// logs).
func sortedPaths(m map[string]map[string]int) []string {
	out := make([]string, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
