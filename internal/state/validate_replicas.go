package state

import "fmt"

// checkReplicas checks each template's replicas: not on the template's own
// node, on nodes with a range in vmids.replicas, and named validly and
// uniquely (<name>-<node> against every template and replica name).
// defaults.replicas are checked once, where they are written.
func (p *parser) checkReplicas(rs ranges, defaults Defaults, entries []*entry) {
	for j, node := range defaults.Replicas {
		item := p.defaultReplicaAt[j]
		switch {
		case p.defaultNodeValid && node == defaults.Node:
			p.addf(item.at, item.field, "%s is defaults.node; replicas are the nodes besides a template's own", node)
		case rs.missingReplica(node):
			p.addf(item.at, item.field, "%s has no range in vmids.replicas", node)
		}
	}
	names := map[string]string{} // name → what is named so, for messages
	for _, e := range entries {
		if _, dup := names[e.t.Name]; e.name != nil && !dup {
			names[e.t.Name] = fmt.Sprintf("%s (line %d)", e.path, e.t.Line)
		}
	}
	for _, e := range entries {
		for j, node := range e.replicas {
			p.checkReplica(rs, e, j, node, names)
		}
	}
}

// checkReplica checks the replica of e on node, the j-th of its list.
func (p *parser) checkReplica(rs ranges, e *entry, j int, node string, names map[string]string) {
	at, field, subject := e.at, e.path+".replicas", node+" (from defaults.replicas)"
	if !e.fromDefaults {
		at, field, subject = e.replicaAt[j].at, e.replicaAt[j].field, node
	}
	switch {
	case e.nodeOK && node == e.t.Node:
		if !e.fromDefaults {
			p.addf(at, field, "%s is the template's own node; replicas are the nodes besides it", node)
		} else if e.ownNode {
			p.addf(at, field, "defaults.replicas lists %s, this template's node: give the template a replicas list of its own without it", node)
		}
		return
	case !e.fromDefaults && rs.missingReplica(node):
		p.addf(at, field, "%s has no range in vmids.replicas", node)
		return
	case e.name == nil:
		return
	}
	// A valid name, "-" and a node name in lower case make a valid name
	// but for its length.
	name := ReplicaName(e.t.Name, node)
	if len(name) > MaxNameLen {
		p.addf(at, field, "the replica on %s would be named %s: %d characters, more than %d", subject, quote(name), len(name), MaxNameLen)
		return
	}
	if first, dup := names[name]; dup {
		p.addf(at, field, "the replica on %s would be named %s, already the name of %s", subject, name, first)
		return
	}
	names[name] = fmt.Sprintf("the replica of %s on %s", e.t.Name, node)
}
