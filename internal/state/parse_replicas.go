package state

import "go.yaml.in/yaml/v3"

// replicaRanges are the ranges of vmids.replicas as read.
type replicaRanges struct {
	// list holds the entries with a valid node and a string value, in
	// the file's order (ok says whether the range itself is valid).
	list []rangeValue
	// written are the nodes vmids.replicas names, valid or not.
	written map[string]bool
	// known says written is every node vmids.replicas names: it was read
	// as a mapping of plain keys, or left out.
	known bool
}

// readReplicaRanges reads vmids.replicas, a mapping of node names to
// ranges as long as vmids.templates (templates, as read).
func (p *parser) readReplicaRanges(m *mapping, templates rangeValue) replicaRanges {
	rr := replicaRanges{written: map[string]bool{}, known: !m.has("replicas")}
	v, ok := m.vals["replicas"]
	if !ok {
		return rr
	}
	rr.known = true
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(v.n.Content); i += 2 {
		k, val := v.n.Content[i], v.n.Content[i+1]
		kr, field, ok := p.mappingKey(k, "vmids.replicas", seen, "write each node's range out")
		if !ok {
			if kr := resolve(k); kr.Kind != yaml.ScalarNode || kr.ShortTag() == "!!merge" {
				rr.known = false // not a plain key: its nodes are unknown
			}
			continue
		}
		node := kr.Value
		rr.written[node] = true
		if !p.checkValue(value{at: k, n: kr}, field, mustMatch(nodeName, node, nodeNameFormat)) {
			continue
		}
		vv := value{at: val, n: resolve(val)}
		if !p.checkType(vv, field, typeString) {
			continue
		}
		rv := rangeValue{key: field, at: val, node: node}
		p.readRange(&rv, vv)
		if rv.ok && templates.ok && rv.Len() != templates.Len() {
			p.addf(val, field, "%s holds %d VMIDs and vmids.templates (%s) %d: a replica range is exactly as long as vmids.templates",
				rv.Range, rv.Len(), templates.Range, templates.Len())
		}
		rr.list = append(rr.list, rv)
	}
	return rr
}

// model returns the valid ranges by node (nil for none).
func (rr replicaRanges) model() map[string]Range {
	var m map[string]Range
	for _, rv := range rr.list {
		if !rv.ok {
			continue
		}
		if m == nil {
			m = map[string]Range{}
		}
		m[rv.node] = rv.Range
	}
	return m
}

// missingReplica reports whether node surely has no range in vmids.replicas
// (vmids was read, rs.at, and names every node it holds).
func (rs ranges) missingReplica(node string) bool {
	return rs.at != nil && rs.replicas.known && !rs.replicas.written[node]
}
