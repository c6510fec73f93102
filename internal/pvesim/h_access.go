package pvesim

import (
	"regexp"
	"strings"
)

// permCheck is a method's "permissions => { check => [...] }" from PVE's
// API schema, evaluated as RPCEnvironment::exec_api2_perm_check does:
// "perm" (all privileges, or any), "and", "or" (a failed "or" is a bare
// "Permission check failed").
type permCheck struct {
	op           string // "perm", "and", "or"
	path         string // with {var} templates: path variables and parameters
	privs        func(major int) []string
	any          bool
	requireParam string
	subs         []*permCheck
}

func privList(p ...string) func(int) []string { return func(int) []string { return p } }

// perm: every one of privs on path.
func perm(path string, privs ...string) *permCheck {
	return &permCheck{op: "perm", path: path, privs: privList(privs...)}
}

// permAny: one of privs on path.
func permAny(path string, privs ...string) *permCheck {
	return &permCheck{op: "perm", path: path, privs: privList(privs...), any: true}
}

// permIf: privs on path, only when the request has param (require_param);
// used inside "or".
func permIf(param, path string, privs ...string) *permCheck {
	return &permCheck{op: "perm", path: path, privs: privList(privs...), requireParam: param}
}

func permAnd(subs ...*permCheck) *permCheck { return &permCheck{op: "and", subs: subs} }
func permOr(subs ...*permCheck) *permCheck  { return &permCheck{op: "or", subs: subs} }

// agentPerm is the guest agent commands' privilege: VM.Monitor up to PVE
// 8 (qemu-server's Agent.pm default before commit b92a40ce), then
// VM.GuestAgent.Audit for ping and network-get-interfaces.
var agentPerm = &permCheck{op: "perm", path: "/vms/{vmid}", privs: func(major int) []string {
	if major >= 9 {
		return []string{"VM.GuestAgent.Audit"}
	}
	return []string{"VM.Monitor"}
}}

var reTemplateVar = regexp.MustCompile(`\{([a-z-]+)\}`)

// eval runs the check; with noerr a failure is false instead of a 403.
func (p *permCheck) eval(a *access, rc *reqCtx, noerr bool) (bool, *apiError) {
	switch p.op {
	case "and":
		for _, s := range p.subs {
			if ok, err := s.eval(a, rc, noerr); !ok {
				return false, err
			}
		}
		return true, nil
	case "or":
		for _, s := range p.subs {
			if ok, _ := s.eval(a, rc, true); ok {
				return true, nil
			}
		}
		if noerr {
			return false, nil
		}
		return false, permError("")
	}
	if p.requireParam != "" && !rc.has(p.requireParam) {
		if noerr {
			return false, nil
		}
		return false, permError("")
	}
	path := reTemplateVar.ReplaceAllStringFunc(p.path, func(m string) string {
		name := m[1 : len(m)-1]
		if v := rc.pathValue(name); v != "" {
			return v
		}
		return rc.param(name)
	})
	privs := p.privs(a.major)
	if a.has(rc.user, path, p.any, privs...) {
		return true, nil
	}
	if noerr {
		return false, nil
	}
	return false, a.check(rc.user, path, p.any, privs...)
}

// authorize runs a route's check for the request (nil: user => 'all').
func (s *Server) authorize(rt *route, rc *reqCtx) *apiError {
	a := s.cluster.access
	if a == nil || rt == nil || rt.check == nil {
		return nil
	}
	_, err := rt.check.eval(a, rc, false)
	return err
}

// checkPerm is a check made inside a handler (RPCEnvironment::check).
func (s *Server) checkPerm(rc *reqCtx, path string, privs ...string) error {
	if err := s.cluster.access.check(rc.user, path, false, privs...); err != nil {
		return err
	}
	return nil
}

// canAny reports whether the caller has one of privs on path (a filter,
// as the list methods apply it).
func (s *Server) canAny(rc *reqCtx, path string, privs ...string) bool {
	return s.cluster.access.has(rc.user, path, true, privs...)
}

// getPermissions is GET /access/permissions (AccessControl.pm
// 'permissions'): the caller's effective permissions, or those of userid
// (itself, or a token it owns; anyone else needs Sys.Audit on /access),
// for every path or only path. The answer maps path → privilege → its
// propagate flag (1/0).
func getPermissions(s *Server, rc *reqCtx) (any, error) {
	a, caller := s.cluster.access, rc.user
	if a == nil {
		// No access section: every token is root@pam's without privilege
		// separation, so it has root's privileges.
		a, caller = s.cluster.rootAcc, rootUser
	}
	userid := caller
	if rc.has("userid") {
		userid = rc.param("userid")
		if !reUserID.MatchString(userid) && !reTokenID.MatchString(userid) {
			return nil, paramError(map[string]string{"userid": "value does not match the regex pattern"})
		}
	}
	if s.cluster.access == nil {
		userid = rootUser
	}
	owner, _, isToken := strings.Cut(userid, "!")
	if userid != caller && !(isToken && owner == caller) && userid != rc.user {
		if err := a.check(caller, "/access", false, "Sys.Audit"); err != nil {
			return nil, err
		}
	}
	if p := rc.param("path"); p != "" {
		return map[string]map[string]int{p: a.permissions(userid, p)}, nil
	}
	return a.effective(userid), nil
}
