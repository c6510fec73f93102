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
	p.checkImages(ranges, images, entries)
	if len(p.problems) > 0 {
		return nil
	}
	d.VMIDs = VMIDRanges{
		Templates: ranges.r[rangeTemplates].Range, Staging: ranges.r[rangeStaging].Range,
		Previous: ranges.r[rangePrevious].Range, Bases: ranges.r[rangeBases].Range,
	}
	d.Images = make([]Image, len(images.list))
	for i, ie := range images.list {
		d.Images[i] = ie.im
	}
	d.Templates = make([]Template, len(entries))
	for i, e := range entries {
		d.Templates[i] = e.t
	}
	return d
}

// rangeValue is one parsed VMID range and where it was written.
type rangeValue struct {
	Range
	key string
	at  *yaml.Node
	ok  bool
}

// ranges are the VMID ranges as read, indexed as vmidFields lists them.
type ranges struct {
	r  [4]rangeValue
	at *yaml.Node // the vmids mapping (nil when missing or not a mapping)
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
	for i, spec := range vmidFields {
		rv := rangeValue{key: "vmids." + spec.Key}
		if val, ok := m.vals[spec.Key]; ok {
			rv.at = val.at
			r, err := parseRange(val.n.Value)
			if err != nil {
				p.addf(val.at, rv.key, "%v", err)
			} else {
				rv.Range, rv.ok = r, true
			}
		}
		rs.r[i] = rv
	}
	for i := range rs.r {
		for j := i + 1; j < len(rs.r); j++ {
			a, b := rs.r[i], rs.r[j]
			if a.ok && b.ok && a.First <= b.Last && b.First <= a.Last {
				p.addf(b.at, b.key, "%s overlaps %s (%s)", b.Range, a.key, a.Range)
			}
		}
	}
	return rs
}
