package state

import (
	"slices"
	"strings"
)

// Replica is one copy of a template kept on another node than the
// template's own, from the same build. Clusters on local storage need one
// on each node their guests are cloned on; a template on shared storage
// serves every node and has none.
type Replica struct {
	Node string
	// VMID is in the node's range of VMIDRanges.Replicas, at the offset
	// the template's VMID has in VMIDRanges.Templates.
	VMID int
	// Name is the template's name, "-" and the node's name in lower case:
	// tpl-ubuntu-22.04-pve2.
	Name string
}

// ReplicaName is the name of the replica of the template named name on
// node.
func ReplicaName(name, node string) string { return name + "-" + strings.ToLower(node) }

// Nodes returns the nodes that keep the template: its own, then those of
// its replicas in the file's order.
func (t Template) Nodes() []string {
	nodes := make([]string, 0, 1+len(t.Replicas))
	nodes = append(nodes, t.Node)
	for _, r := range t.Replicas {
		nodes = append(nodes, r.Node)
	}
	return nodes
}

// Replica returns the template's replica on node, or false.
func (t Template) Replica(node string) (Replica, bool) {
	for _, r := range t.Replicas {
		if r.Node == node {
			return r, true
		}
	}
	return Replica{}, false
}

// ReplicaNodes returns the nodes that have a range in Replicas, sorted.
func (v VMIDRanges) ReplicaNodes() []string {
	nodes := make([]string, 0, len(v.Replicas))
	for n := range v.Replicas {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	return nodes
}

// ReplicaNode returns the node whose replica range holds vmid, or false.
func (v VMIDRanges) ReplicaNode(vmid int) (string, bool) {
	for n, r := range v.Replicas {
		if r.Contains(vmid) {
			return n, true
		}
	}
	return "", false
}

// replicasOf returns the replicas, on nodes, of the template named name
// at vmid. Each node must have a range in v.Replicas.
func (v VMIDRanges) replicasOf(vmid int, name string, nodes []string) []Replica {
	var out []Replica
	for _, n := range nodes {
		out = append(out, Replica{Node: n, VMID: v.Replicas[n].First + vmid - v.Templates.First, Name: ReplicaName(name, n)})
	}
	return out
}

// AsReplica is t as kept on r's node: r's name, VMID and node, and no
// replicas of its own; everything else (hardware, storages, keep_previous)
// is t's. The executor places and swaps a replica as this template.
func (t Template) AsReplica(r Replica) Template {
	t.Name, t.VMID, t.Node, t.Replicas = r.Name, r.VMID, r.Node, nil
	return t
}

// ReplicaOf returns the template that keeps the replica named name, and
// the replica, or false.
func (d *Desired) ReplicaOf(name string) (Template, Replica, bool) {
	for _, t := range d.Templates {
		for _, r := range t.Replicas {
			if r.Name == name {
				return t, r, true
			}
		}
	}
	return Template{}, Replica{}, false
}

// Unit returns the template named name, or the replica named name as the
// template it is on its node (AsReplica), or false. Journal entries and
// plan actions name either.
func (d *Desired) Unit(name string) (Template, bool) {
	if t, ok := d.Template(name); ok {
		return t, true
	}
	if t, r, ok := d.ReplicaOf(name); ok {
		return t.AsReplica(r), true
	}
	return Template{}, false
}
