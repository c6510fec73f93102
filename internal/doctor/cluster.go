package doctor

import (
	"fmt"
	"slices"
	"strings"

	"templated/internal/proxmox"
)

// privilegeChecks: one result per operation, listing every privilege the
// token lacks on every path.
func privilegeChecks(s *Snapshot) []Result {
	a := s.API
	if a.PermsErr != nil {
		return []Result{fail("privileges", "privileges", "GET /access/permissions failed: "+a.PermsErr.Msg,
			"every token may read its own permissions; check the token id and that the user exists (`pveum user list`)")}
	}
	m := major(a.Version)
	clones := cloneVMIDs(s)
	var out []Result
	for _, op := range operations {
		ns := needs(op, s, m, clones)
		if len(ns) == 0 {
			continue // no template downloads images or makes base VMs
		}
		var lack []missing
		for _, n := range ns {
			for _, l := range n.check(a.Perms) {
				if !slices.ContainsFunc(lack, func(x missing) bool { return x.priv == l.priv && x.paths == l.paths }) {
					lack = append(lack, l)
				}
			}
		}
		id, name := "privileges."+op, "privileges to "+opNames[op]
		if len(lack) == 0 {
			out = append(out, pass(id, name, "all granted"))
			continue
		}
		var details, privs []string
		for _, l := range lack {
			details = append(details, fmt.Sprintf("%s on %s (%s)", l.priv, l.paths, l.why))
			if !slices.Contains(privs, l.priv) {
				privs = append(privs, l.priv)
			}
		}
		msg := fmt.Sprintf("token %s lacks %s", s.Conn.TokenID, strings.Join(privs, ", "))
		if m >= 9 && slices.Contains(privs, "VM.GuestAgent.Audit") {
			msg += " (PVE 9 replaced VM.Monitor with VM.GuestAgent.*: a role written for PVE 8 lacks it)"
		}
		out = append(out, fail(id, name, msg,
			fmt.Sprintf("grant the role of docs/permissions.md (PVE %d) to the token on those paths: `pveum acl modify PATH --tokens %s --roles Templated`; a privilege-separated token needs its own ACLs besides its user's", max(m, 8), s.Conn.TokenID),
			details...))
	}
	return out
}

// cloneVMIDs finds each clone build's base VM among the guests.
func cloneVMIDs(s *Snapshot) map[string]int {
	out := map[string]int{}
	for _, t := range s.Templates {
		if t.Build != "clone" {
			continue
		}
		for _, g := range s.API.Guests {
			if t.CloneVM != "" && g.Name == t.CloneVM {
				out[t.Name] = g.VMID
				break
			}
		}
	}
	return out
}

// nodeChecks: every node a template uses exists and is online.
func nodeChecks(s *Snapshot) []Result {
	a := s.API
	var out []Result
	for _, n := range templateNodes(s) {
		id, name := "node."+n, "node "+n
		if a.MembersErr != nil {
			out = append(out, warn(id, name, "could not read GET /cluster/status: "+a.MembersErr.Msg,
				"grant Sys.Audit on / to the token (docs/permissions.md) so doctor can see which nodes are online"))
			continue
		}
		i := slices.IndexFunc(a.Members, func(m proxmox.Member) bool { return m.Type == "node" && m.Name == n })
		switch {
		case i < 0:
			out = append(out, fail(id, name, fmt.Sprintf("the desired file builds on node %s, which is not in the cluster (nodes: %s)", n, strings.Join(memberNames(a.Members), ", ")),
				"set node (or defaults.node) in desired/templates.yaml to one of the cluster's nodes"))
		case !a.Members[i].Online:
			out = append(out, fail(id, name, fmt.Sprintf("node %s is offline (GET /cluster/status: online 0)", n),
				fmt.Sprintf("bring %s back (power, network, corosync: `pvecm status`), or build on another node (node in desired/templates.yaml)", n)))
		default:
			out = append(out, pass(id, name, "online"))
		}
	}
	return out
}

func memberNames(ms []proxmox.Member) []string {
	var out []string
	for _, m := range ms {
		if m.Type == "node" {
			out = append(out, m.Name)
		}
	}
	return out
}

// storageUse is what the templates need of one storage on one node.
type storageUse struct {
	node, storage string
	content       []string // "images", "iso"
	users         []string
}

func storageUses(s *Snapshot) []storageUse {
	var out []storageUse
	add := func(node, st, content, user string) {
		i := slices.IndexFunc(out, func(u storageUse) bool { return u.node == node && u.storage == st })
		if i < 0 {
			out = append(out, storageUse{node: node, storage: st})
			i = len(out) - 1
		}
		if !slices.Contains(out[i].content, content) {
			out[i].content = append(out[i].content, content)
		}
		if !slices.Contains(out[i].users, user) {
			out[i].users = append(out[i].users, user)
		}
	}
	for _, t := range s.Templates {
		add(t.Node, t.Storage, "images", t.Name)
		if t.Build == "iso" {
			add(t.Node, t.ISOStorage, "iso", t.Name)
		}
	}
	return out
}

// storageChecks: each storage a template uses is on its node, enabled,
// active and holds the content type it is used for.
func storageChecks(s *Snapshot) []Result {
	var out []Result
	for _, u := range storageUses(s) {
		id, name := "storage."+u.node+"."+u.storage, fmt.Sprintf("storage %s on %s", u.storage, u.node)
		n := s.API.Nodes[u.node]
		if n == nil {
			continue // the node check said why
		}
		if n.StoragesErr != nil {
			out = append(out, fail(id, name, "could not list the storages of "+u.node+": "+n.StoragesErr.Msg, fixFor(n.StoragesErr, u.node)))
			continue
		}
		i := slices.IndexFunc(n.Storages, func(st proxmox.StorageState) bool { return st.Name == u.storage })
		if i < 0 {
			out = append(out, fail(id, name, fmt.Sprintf("storage %s (used by %s) is not on node %s, or the token may not see it", u.storage, strings.Join(u.users, ", "), u.node),
				fmt.Sprintf("add it (Datacenter → Storage, `pvesm add`), make it available on %s (`pvesm set %s --nodes ...`), grant Datastore.Audit on /storage/%s, or name another storage in desired/templates.yaml", u.node, u.storage, u.storage)))
			continue
		}
		st := n.Storages[i]
		var miss []string
		for _, c := range u.content {
			if !slices.Contains(st.Content, c) {
				miss = append(miss, c)
			}
		}
		switch {
		case !st.Enabled:
			out = append(out, fail(id, name, fmt.Sprintf("storage %s is disabled on %s", u.storage, u.node),
				fmt.Sprintf("enable it (`pvesm set %s --disable 0`) or name another storage in desired/templates.yaml", u.storage)))
		case !st.Active:
			out = append(out, fail(id, name, fmt.Sprintf("storage %s is enabled but not active on %s (not mounted or not reachable)", u.storage, u.node),
				fmt.Sprintf("check it on the node (`pvesm status --storage %s`, the NFS/iSCSI server, the mount)", u.storage)))
		case len(miss) > 0:
			out = append(out, fail(id, name, fmt.Sprintf("storage %s does not hold %s content (it holds %s), which %s need", u.storage, strings.Join(miss, ", "), strings.Join(st.Content, ", "), strings.Join(u.users, ", ")),
				fmt.Sprintf("add the content type (`pvesm set %s --content %s`) or name a storage that has it (storage for images, iso_storage for iso in desired/templates.yaml)", u.storage, strings.Join(append(slices.Clone(st.Content), miss...), ","))))
		default:
			out = append(out, pass(id, name, fmt.Sprintf("%s, enabled, active, %s", st.Type, strings.Join(st.Content, ","))))
		}
	}
	return out
}

// fixFor says what to do about a per-node request that failed.
func fixFor(p *Problem, node string) string {
	switch p.Kind {
	case KindOffline:
		return fmt.Sprintf("bring %s back, or build on another node", node)
	case KindPermission:
		return "grant the privileges of docs/permissions.md to the token"
	}
	return "fix what the message says, then run doctor again"
}
