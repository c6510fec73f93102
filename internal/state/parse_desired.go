package state

import (
	"slices"

	"go.yaml.in/yaml/v3"
)

// desired reads the root mapping into a Desired, or nil with problems.
func (p *parser) desired(root *yaml.Node) *Desired {
	m := p.readMapping(root, root, "", rootFields)
	d := &Desired{Defaults: builtinDefaults()}
	if v, ok := m.vals["version"]; ok {
		var x int64
		if err := v.n.Decode(&x); err != nil || x != FormatVersion {
			p.addf(v.at, "version", "unsupported version %s; this templated reads version %d", clip(v.n.Value), FormatVersion)
		}
		d.Version = int(x)
	}
	if v, ok := m.vals["defaults"]; ok {
		dm := p.readMapping(v.at, v.n, "defaults", settingFields)
		p.defaultNode = dm.has("node")
		s := p.readSettings(dm, "defaults")
		p.defaultBuildBad = dm.has("build") && !slices.Contains(s.set, "build")
		p.defaultNodeValid = slices.Contains(s.set, "node")
		p.defaultNodeBad = dm.has("node") && !p.defaultNodeValid
		p.defaultReplicaAt = s.replicaAt
		d.Defaults = s.over(d.Defaults)
	}
	ranges := p.readRanges(m)
	images := p.readImages(m, d.Defaults.ISOStorage)
	var entries []*entry
	if v, ok := m.vals["templates"]; ok {
		for i, item := range v.n.Content {
			if e := p.readTemplate(i, item, d.Defaults); e != nil {
				entries = append(entries, e)
			}
		}
	}
	p.crossCheck(ranges, entries)
	p.checkReplicas(ranges, d.Defaults, entries)
	p.checkImages(ranges, images, entries)
	notifications := p.readNotifications(m)
	if len(p.problems) > 0 {
		return nil
	}
	d.VMIDs = VMIDRanges{
		Templates: ranges.r[rangeTemplates].Range, Staging: ranges.r[rangeStaging].Range,
		Previous: ranges.r[rangePrevious].Range, Bases: ranges.r[rangeBases].Range,
		Replicas: ranges.replicas.model(),
	}
	d.Images = make([]Image, len(images.list))
	for i, ie := range images.list {
		d.Images[i] = ie.im
	}
	d.Notifications = notifications
	d.Templates = make([]Template, len(entries))
	for i, e := range entries {
		d.Templates[i] = e.t
		d.Templates[i].Replicas = d.VMIDs.replicasOf(e.t.VMID, e.t.Name, e.replicas)
	}
	return d
}

// rangeValue is one parsed VMID range and where it was written.
type rangeValue struct {
	Range
	key  string
	at   *yaml.Node
	ok   bool
	node string // the node of a replica range
}

// ranges are the VMID ranges as read: the cluster-wide ones indexed as
// rangeFields lists them, and the replica ranges.
type ranges struct {
	r        [4]rangeValue
	at       *yaml.Node // the vmids mapping (nil when missing or not a mapping)
	replicas replicaRanges
}

// Indexes of ranges.r.
const (
	rangeTemplates = iota
	rangeStaging
	rangePrevious
	rangeBases
)

// readRanges reads the vmids mapping.
func (p *parser) readRanges(root *mapping) ranges {
	var rs ranges
	v, ok := root.vals["vmids"]
	if !ok {
		return rs
	}
	m := p.readMapping(v.at, v.n, "vmids", vmidFields)
	rs.at = v.at
	for i, spec := range rangeFields {
		rv := rangeValue{key: "vmids." + spec.Key}
		if val, ok := m.vals[spec.Key]; ok {
			rv.at = val.at
			p.readRange(&rv, val)
		}
		rs.r[i] = rv
	}
	rs.replicas = p.readReplicaRanges(m, rs.r[rangeTemplates])
	all := slices.Concat(rs.r[:], rs.replicas.list)
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			a, b := all[i], all[j]
			if a.ok && b.ok && a.First <= b.Last && b.First <= a.Last {
				p.addf(b.at, b.key, "%s overlaps %s (%s)", b.Range, a.key, a.Range)
			}
		}
	}
	return rs
}

// readRange parses the range v into rv.
func (p *parser) readRange(rv *rangeValue, v value) {
	r, err := parseRange(v.n.Value)
	if err != nil {
		p.addf(v.at, rv.key, "%v", err)
		return
	}
	rv.Range, rv.ok = r, true
}
