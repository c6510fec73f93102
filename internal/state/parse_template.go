package state

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// entry is one template as read, with where its keys were written, for the
// checks across templates.
type entry struct {
	t    Template
	path string     // "templates[1]"
	name *yaml.Node // nil when missing or invalid
	vmid *yaml.Node // nil when missing or invalid
	// image is the image value (nil when not written as a string), extras
	// the extra_images list (nil when not written as a list) and extraAt
	// its string items, as t.ExtraImages holds them.
	image   *yaml.Node
	extras  *yaml.Node
	extraAt []*yaml.Node
	// buildOK says t.Build is what the file asks for: neither the
	// template's build nor the defaults' is invalid.
	buildOK bool
	// at is the entry; nodeOK says t.Node is what the file asks for, and
	// ownNode that the template wrote it.
	at              *yaml.Node
	nodeOK, ownNode bool
	// replicas are the nodes that keep a replica, and replicaAt where
	// each was written (nil when they come from defaults: fromDefaults).
	replicas     []string
	replicaAt    []listItem
	fromDefaults bool
}

// readTemplate reads templates[i]. It returns nil when the item is not a
// mapping.
func (p *parser) readTemplate(i int, at *yaml.Node, defaults Defaults) *entry {
	path := fmt.Sprintf("templates[%d]", i)
	n := resolve(at)
	if !p.checkType(value{at: at, n: n}, path, typeObject) {
		return nil
	}
	m := p.readMapping(at, n, path, templateFields)
	e := &entry{path: path, at: at}
	e.t.Line = at.Line
	str := func(key string) (string, value, bool) {
		v, ok := m.vals[key]
		if !ok {
			return "", v, false
		}
		return v.n.Value, v, true
	}
	check := func(v value, key string, err error) bool {
		if err != nil {
			p.addf(v.at, joinField(path, key), "%v", err)
		}
		return err == nil
	}

	var osOK, versionOK bool
	if s, v, ok := str("os"); ok {
		e.t.OS, osOK = s, check(v, "os", mustMatch(osSyntax, s, osFormat))
	}
	if s, v, ok := str("os_version"); ok {
		e.t.OSVersion, versionOK = s, check(v, "os_version", mustMatch(osVersionSyntax, s, osVersionFormat))
	}
	if s, v, ok := str("name"); ok {
		e.t.Name = s
		err := checkName(s)
		if err == nil && osOK && versionOK {
			err = nameMatches(s, e.t.OS, e.t.OSVersion)
		}
		if check(v, "name", err) {
			e.name = v.at
		}
	}
	if v, ok := m.vals["vmid"]; ok {
		var ok bool
		if e.t.VMID, ok = p.intValue(v, path+".vmid", MinVMID, MaxVMID); ok {
			e.vmid = v.at
		}
	}
	if s, v, ok := str("release"); ok {
		var err error
		e.t.Release, err = parseRelease(s)
		check(v, "release", err)
	}
	packerDir := ""
	if s, v, ok := str("packer"); ok {
		e.t.Packer = s
		if check(v, "packer", p.checkPackerPath(s)) {
			packerDir = s
		}
	}
	if s, v, ok := str("var_file"); ok {
		e.t.VarFile = s
		check(v, "var_file", p.checkVarFile(s, packerDir, path+".packer"))
	}
	if v, ok := m.vals["suspend"]; ok {
		e.t.Suspended, e.t.SuspendReason = p.readSuspend(v, path+".suspend")
	}

	if s, v, ok := str("image"); ok {
		e.t.Image, e.image = s, v.at
	}
	if v, ok := m.vals["extra_images"]; ok {
		e.extras = v.at
		for j, item := range v.n.Content {
			iv := value{at: item, n: resolve(item)}
			if p.checkType(iv, fmt.Sprintf("%s.extra_images[%d]", path, j), typeString) {
				e.t.ExtraImages = append(e.t.ExtraImages, iv.n.Value)
				e.extraAt = append(e.extraAt, iv.at)
			}
		}
	}

	s := p.readSettings(m, path)
	if m.has("build") {
		e.buildOK = slices.Contains(s.set, "build")
	} else {
		e.buildOK = !p.defaultBuildBad
	}
	final := s.over(defaults)
	p.applySettings(&e.t, final)
	if e.t.Node == "" && !m.has("node") && !p.defaultNode {
		p.addf(at, path+".node", "no node: set node here or in defaults")
	}
	e.ownNode = m.has("node")
	e.nodeOK = slices.Contains(s.set, "node") || !e.ownNode && p.defaultNodeValid
	switch {
	case slices.Contains(s.set, "replicas"):
		e.replicas, e.replicaAt = final.Replicas, s.replicaAt
	case !m.has("replicas"):
		e.replicas, e.fromDefaults = final.Replicas, true
	}
	return e
}

// applySettings copies the settings a template ends up with into t, with
// its time zone and patch schedule parsed.
func (p *parser) applySettings(t *Template, s Defaults) {
	t.Node, t.Storage, t.ISOStorage = s.Node, s.Storage, s.ISOStorage
	t.Cores, t.MemoryMiB, t.DiskGB = s.Cores, s.MemoryMiB, s.DiskGB
	t.Build, t.MaxAge, t.KeepPrevious, t.BuildTimeout = s.Build, s.MaxAge, s.KeepPrevious, s.BuildTimeout
	t.PatchSchedule, t.Timezone = s.PatchSchedule, s.Timezone
	if loc, err := p.location(t.Timezone); err == nil {
		t.Location = loc
		if t.PatchSchedule != "" {
			t.Schedule, _ = parseCron(t.PatchSchedule, loc)
		}
	}
}

// has reports whether the mapping wrote key (valid or not).
func (m *mapping) has(key string) bool { return m.written[key] }

// readSuspend reads suspend: true, false or a reason.
func (p *parser) readSuspend(v value, field string) (bool, string) {
	if v.n.ShortTag() == "!!bool" {
		var b bool
		if err := v.n.Decode(&b); err != nil {
			p.addf(v.at, field, "must be true, false or a reason, got %s", describe(v.n))
			return false, ""
		}
		if b {
			return true, "suspended in the desired file"
		}
		return false, ""
	}
	if v.n.Value == "" {
		p.addf(v.at, field, "give a reason, or write suspend: true")
		return false, ""
	}
	return true, v.n.Value
}
