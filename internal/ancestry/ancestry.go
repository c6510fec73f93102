package ancestry

import (
	"sort"
	"strings"
	"time"

	"templated/internal/state"
)

// Build identifies one build of a template, as its stamp's tags tell it.
type Build struct {
	Template   string    `json:"template"`
	Release    string    `json:"release"`
	InputsHash string    `json:"inputs_hash"` // the tag's 12 hex
	BuiltAt    time.Time `json:"built_at"`
	// Images are the image digests it was built from (12 hex each,
	// comma-separated): a rebuild for a new image keeps the inputs.
	Images string `json:"images,omitempty"`
}

// same reports whether a and b are one build: the build time (to the
// second), inputs hash and images together name it.
func (b Build) same(o Build) bool {
	return b.BuiltAt.Equal(o.BuiltAt) && b.InputsHash == o.InputsHash && b.Images == o.Images
}

// Clone is one guest cloned from a template.
type Clone struct {
	VMID int    `json:"vmid"`
	Name string `json:"name"`
	Node string `json:"node"`
	// Build is the build the guest came from (zero for an unstamped
	// linked clone).
	Build Build `json:"build"`
	// Linked is set when the guest's disks are linked clones of the
	// template's base volumes.
	Linked bool `json:"linked,omitempty"`
	// Behind is how much older the clone's build is than the template's
	// current one (0 for a clone of the current build).
	Behind time.Duration `json:"behind_ns"`
	// Age is the time since the clone's build.
	Age time.Duration `json:"age_ns"`
}

// Lineage is what is known about one template's clones.
type Lineage struct {
	Template string `json:"template"`
	VMID     int    `json:"vmid"`
	// Current is the build at the reserved VMID (nil when there is none,
	// or it is not templated's).
	Current *Build `json:"current"`
	// Clones came from the current build; Outdated from older builds,
	// oldest first; Unstamped are linked clones of the template whose
	// stamp is gone (their tags edited).
	Clones    []Clone `json:"clones"`
	Outdated  []Clone `json:"outdated"`
	Unstamped []Clone `json:"unstamped"`
}

// Trace works out each desired template's lineage from one guest list
// (GET /cluster/resources: every guest's tags) and, where it was read, the
// linked clones of each template (template VMID → guest VMIDs, from the
// storages' volume lists). A guest counts as a clone when it carries
// templated's stamp and is not itself a template, nor in one of the
// ranges templated keeps its own guests in (staging, previous, bases, the
// reserved template VMIDs): a clone of a template carries its tags, but
// it never becomes one of templated's guests.
func Trace(d *state.Desired, guests []state.Guest, linked map[int][]int, now time.Time) []Lineage {
	out := make([]Lineage, 0, len(d.Templates))
	index := map[string]int{}  // template name → out index
	reserved := map[int]bool{} // the templates' reserved VMIDs
	for _, t := range d.Templates {
		// A replica holds its template's build: clones of it are the
		// template's.
		for _, r := range t.Replicas {
			index[r.Name] = len(out)
			reserved[r.VMID] = true
		}
		index[t.Name] = len(out)
		reserved[t.VMID] = true
		out = append(out, Lineage{Template: t.Name, VMID: t.VMID, Clones: []Clone{}, Outdated: []Clone{}, Unstamped: []Clone{}})
	}
	// Builds templated still keeps (templates, previous versions), by
	// build: they name the template of a clone whose tags predate the
	// template tag.
	kept := map[Build]string{}
	byVMID := make(map[int]state.Guest, len(guests))
	for _, g := range guests {
		byVMID[g.VMID] = g
		if !g.Template {
			continue
		}
		if s, ok := state.StampFromTags(g.Tags); ok && s.Role != state.RoleBase {
			name := s.Template
			if _, desired := index[g.Name]; name == "" && desired {
				name = g.Name // legacy tags: templates and previous versions keep the name
			}
			if name != "" {
				kept[buildKey(s)] = name
			}
		}
		if i, ok := index[g.Name]; ok && reserved[g.VMID] && out[i].VMID == g.VMID {
			if s, owned := state.StampFromTags(g.Tags); owned {
				b := build(s, g.Name)
				out[i].Current = &b
			}
		}
	}
	own := func(vmid int) bool {
		return reserved[vmid] || d.VMIDs.Staging.Contains(vmid) || d.VMIDs.Previous.Contains(vmid) || d.VMIDs.Bases.Contains(vmid)
	}
	isLinked := map[int]int{} // clone VMID → template VMID
	for tpl, clones := range linked {
		for _, c := range clones {
			isLinked[c] = tpl
		}
	}
	for _, g := range guests {
		if g.Template || own(g.VMID) {
			continue
		}
		s, stamped := state.StampFromTags(g.Tags)
		if stamped && s.Role == state.RoleBase {
			continue
		}
		c := Clone{VMID: g.VMID, Name: g.Name, Node: g.Node}
		_, c.Linked = isLinked[g.VMID]
		if !stamped {
			if tpl, ok := isLinked[g.VMID]; ok {
				if i, ok := lineageOf(out, tpl); ok {
					out[i].Unstamped = append(out[i].Unstamped, c)
				}
			}
			continue
		}
		name := s.Template
		if name == "" {
			name = kept[buildKey(s)]
		}
		if name == "" {
			if tpl, ok := isLinked[g.VMID]; ok {
				name = byVMID[tpl].Name
			}
		}
		i, ok := index[name]
		if !ok {
			continue // a template no longer desired, or unknown
		}
		c.Build = build(s, out[i].Template)
		c.Age = now.Sub(c.Build.BuiltAt)
		l := &out[i]
		switch {
		case l.Current != nil && l.Current.same(c.Build):
			l.Clones = append(l.Clones, c)
		default:
			if l.Current != nil && !c.Build.BuiltAt.IsZero() {
				c.Behind = l.Current.BuiltAt.Sub(c.Build.BuiltAt)
			}
			l.Outdated = append(l.Outdated, c)
		}
	}
	for i := range out {
		sortClones(out[i].Clones)
		sortClones(out[i].Unstamped)
		sort.SliceStable(out[i].Outdated, func(a, b int) bool {
			x, y := out[i].Outdated[a], out[i].Outdated[b]
			if !x.Build.BuiltAt.Equal(y.Build.BuiltAt) {
				return x.Build.BuiltAt.Before(y.Build.BuiltAt)
			}
			return x.VMID < y.VMID
		})
	}
	return out
}

// buildKey is the part of a stamp that names a build.
func buildKey(s state.Stamp) Build {
	return Build{InputsHash: short(s.InputsHash), BuiltAt: s.BuiltAt, Images: images(s)}
}

func build(s state.Stamp, template string) Build {
	return Build{Template: template, Release: s.Release, InputsHash: short(s.InputsHash), BuiltAt: s.BuiltAt, Images: images(s)}
}

func images(s state.Stamp) string {
	ds := make([]string, len(s.Images))
	for i, c := range s.Images {
		ds[i] = state.ImageDigest(c)
	}
	sort.Strings(ds)
	return strings.Join(ds, ",")
}

func short(h string) string {
	if len(h) > state.InputsTagLen {
		return h[:state.InputsTagLen]
	}
	return h
}

func lineageOf(ls []Lineage, vmid int) (int, bool) {
	for i, l := range ls {
		if l.VMID == vmid {
			return i, true
		}
	}
	return 0, false
}

func sortClones(cs []Clone) {
	sort.Slice(cs, func(a, b int) bool { return cs[a].VMID < cs[b].VMID })
}
