package reconcile

import (
	"cmp"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-version"

	"templated/internal/plan"
	"templated/internal/state"
)

const (
	mib = 1 << 20
	gib = 1 << 30
)

// Plan decides, for every desired template, whether to create, rebuild,
// keep or leave it blocked, and says why. It is pure: no I/O, no clock; the
// same arguments always give the same plan.
//
// When obs carries images (obs.Images), a template is also rebuilt when an
// image it names resolves to a digest its stamp does not carry, and a
// build that needs an image that did not resolve is blocked (before, and
// instead of, the cluster's unmet prerequisites: those were checked
// against an image that is not known).
func Plan(d *state.Desired, obs state.Observed, now time.Time) plan.Plan {
	p := plan.Plan{FormatVersion: plan.FormatVersion, DesiredSHA256: d.SHA256, PlannedAt: now.UTC()}
	// Index only the guests a desired entry can be about: a cluster has
	// thousands of guests and a handful of templates.
	byVMID := make(map[int]state.Guest, len(d.Templates))
	byName := make(map[string][]state.Guest, len(d.Templates))
	wanted := make(map[int]bool, len(d.Templates))
	for _, t := range d.Templates {
		wanted[t.VMID] = true
		byName[t.Name] = nil
		for _, r := range t.Replicas {
			wanted[r.VMID] = true
			byName[r.Name] = nil
		}
	}
	for _, g := range obs.Guests {
		if wanted[g.VMID] {
			byVMID[g.VMID] = g
		}
		if others, ok := byName[g.Name]; ok {
			byName[g.Name] = append(others, g)
		}
	}
	named := map[int]bool{}
	clones := cloneCounts(d, obs, now)
	for _, t := range d.Templates {
		named[t.VMID] = true
		a := planOne(t, obs, byVMID, byName, now)
		a.Clones = clones[t.Name]
		if obs.Images != nil {
			a = withImages(a, t, obs.Images)
		}
		if unmet := obs.Unmet[t.Name]; a.Kind.Changes() && len(unmet) > 0 {
			a = blockUnmet(a, unmet)
		}
		p.Add(a)
		for _, r := range t.Replicas {
			named[r.VMID] = true
			p.Add(planReplica(t, a, r, byVMID, byName))
		}
	}
	p.Images = planImages(d, obs, p.Actions)
	p.Unmanaged = unmanaged(d, obs.Guests, named)
	return p
}

// blockUnmet turns a create or rebuild the cluster cannot carry out into a
// blocked action: what is missing first, then why the build was wanted.
func blockUnmet(a plan.Action, unmet []state.Unmet) plan.Action {
	missing := make([]plan.Reason, 0, len(unmet))
	for _, u := range unmet {
		missing = append(missing, plan.Reason{Code: u.Code, Message: u.Message})
	}
	return blockWith(a, missing)
}

// blockWith blocks a create or rebuild: why first, then why the build was
// wanted.
func blockWith(a plan.Action, why []plan.Reason) plan.Action {
	reasons := append(make([]plan.Reason, 0, len(why)+len(a.Reasons)), why...)
	for _, r := range a.Reasons {
		r.Message = fmt.Sprintf("wanted a %s: %s", a.Kind, r.Message)
		reasons = append(reasons, r)
	}
	a.Kind, a.Reasons = plan.Blocked, reasons
	return a
}

func planOne(t state.Template, obs state.Observed, byVMID map[int]state.Guest, byName map[string][]state.Guest, now time.Time) plan.Action {
	a := plan.Action{Template: t.Name, VMID: t.VMID, Node: t.Node, InputsHash: obs.Inputs[t.Name]}
	if t.Release != nil {
		a.Release = t.Release.String()
	}
	block := func(code, format string, args ...any) plan.Action {
		a.Kind = plan.Blocked
		a.Reasons = append(a.Reasons, plan.Reason{Code: code, Message: fmt.Sprintf(format, args...)})
		return a
	}
	if t.Suspended {
		why := t.SuspendReason
		if why == "" {
			why = "suspended in the desired file"
		}
		return block(plan.ReasonSuspended, "suspended: %s", why)
	}
	if a.InputsHash == "" {
		return block(plan.ReasonInputsUnknown, "inputs hash unknown: the Packer workspace could not be read")
	}

	g, exists := byVMID[t.VMID]
	if exists {
		a.Current = current(g)
	}
	// Guests elsewhere that carry the template's name.
	var others []int
	for _, o := range byName[t.Name] {
		if o.VMID != t.VMID {
			others = append(others, o.VMID)
		}
	}
	sort.Ints(others)

	if !exists {
		if len(others) > 0 {
			return block(plan.ReasonNameElsewhere, "the name %s belongs to VMID %s; rename or remove that guest, or point the desired entry at it", t.Name, joinInts(others))
		}
		a.Kind = plan.Create
		a.Reasons = []plan.Reason{{Code: plan.ReasonMissing, Message: fmt.Sprintf("no guest at VMID %d", t.VMID)}}
		return a
	}
	if !g.IsQEMU() {
		return block(plan.ReasonContainer, "VMID %d holds an LXC container (%s), not a VM template; templated will not touch it", t.VMID, displayName(g))
	}
	if g.Lock != "" {
		return block(plan.ReasonLocked, "VMID %d is locked (%s): another operation is in progress; the next run will look again", t.VMID, g.Lock)
	}
	if !g.Template {
		return block(plan.ReasonPlainVM, "VMID %d holds a plain VM (%s, %s), not a template; move it or reserve another VMID", t.VMID, displayName(g), g.Status)
	}
	stamp, owned := state.StampFromTags(g.Tags)
	if !owned {
		return block(plan.ReasonUnmanaged, "VMID %d holds a template templated does not manage (%s); take it over with `templated adopt %s` (it is rebuilt through the pipeline on the next apply)", t.VMID, displayName(g), t.Name)
	}
	adopted := stamp.InputsHash == AdoptedInputs
	if g.Name != t.Name && !adopted {
		return block(plan.ReasonOtherName, "VMID %d holds templated's template %s, not %s; rename the desired entry or move that template", t.VMID, displayName(g), t.Name)
	}
	if len(others) > 0 {
		return block(plan.ReasonDuplicateName, "%d guests share the name %s: VMIDs %d and %s; PVE names are not unique, so clones by name would be ambiguous", len(others)+1, t.Name, t.VMID, joinInts(others))
	}
	if h, held := obs.Holds[t.Name]; held && (h.InputsHash == "" || h.InputsHash == a.InputsHash) {
		return block(plan.ReasonHeld, "held since %s (%s); release it with `templated resume %s` or change its desired entry", h.Since.UTC().Format(time.RFC3339), h.Reason, t.Name)
	}

	var reasons []plan.Reason
	add := func(code, format string, args ...any) {
		reasons = append(reasons, plan.Reason{Code: code, Message: fmt.Sprintf(format, args...)})
	}
	if adopted {
		add(plan.ReasonAdopted, "taken over with `templated adopt` (was %s); rebuilt through the pipeline", displayName(g))
	} else if stamp.Release == "" {
		add(plan.ReasonStampUnreadable, "the template carries no release tag")
	} else if t.Release != nil {
		built, err := version.NewVersion(stamp.Release)
		switch {
		case err != nil:
			add(plan.ReasonStampUnreadable, "the template's release tag %q is not a version", stamp.Release)
		case t.Release.LessThan(built):
			return block(plan.ReasonDowngrade, "release downgrade %s → %s: templated only moves forward; use `templated rollback %s` to go back", built, t.Release, t.Name)
		case t.Release.GreaterThan(built):
			add(plan.ReasonReleaseBumped, "release bumped %s → %s", built, t.Release)
		}
	}
	switch {
	case adopted || state.SameInputs(stamp.InputsHash, a.InputsHash):
	case stamp.Plugin != "" && obs.Plugin != "" && stamp.Plugin != strings.ToLower(obs.Plugin):
		// The plugin is part of the inputs; name it rather than a hash.
		add(plan.ReasonPluginChanged, "built with packer-plugin-proxmox %s, %s is installed (inputs %s → %s)", stamp.Plugin, obs.Plugin, short(stamp.InputsHash), short(a.InputsHash))
	default:
		add(plan.ReasonInputsChanged, "inputs changed %s → %s (desired entry, Packer files, Packer or plugin version)", short(stamp.InputsHash), short(a.InputsHash))
	}
	if !adopted {
		reasons = append(reasons, imageUpdated(t, stamp, obs.Images)...)
	}
	if hw := hardwareDrift(t, g); hw != "" {
		add(plan.ReasonHardwareDrift, "changed outside templated: %s", hw)
	}
	if stamp.BuiltAt.IsZero() {
		add(plan.ReasonUnknownBuild, "the template carries no build time")
	} else {
		age := now.Sub(stamp.BuiltAt)
		if t.MaxAge > 0 && age > t.MaxAge {
			add(plan.ReasonMaxAge, "built %s ago, older than max_age %s", humanDuration(age), humanDuration(t.MaxAge))
		}
		if t.Schedule != nil {
			if tick := t.Schedule.Next(stamp.BuiltAt.In(loc(t))); !tick.After(now) {
				add(plan.ReasonPatchDue, "patch schedule %q ticked at %s, after the build at %s", t.PatchSchedule, tick.Format("2006-01-02 15:04 MST"), stamp.BuiltAt.In(loc(t)).Format("2006-01-02 15:04 MST"))
			}
		}
	}
	if len(reasons) == 0 {
		a.Kind = plan.Keep
		a.Reasons = []plan.Reason{{Code: plan.ReasonUpToDate, Message: keepMessage(t, stamp, now)}}
		return a
	}
	if clones := obs.LinkedClones[t.VMID]; len(clones) > 0 {
		sorted := append([]int(nil), clones...)
		sort.Ints(sorted)
		a.Reasons = reasons
		return block(plan.ReasonLinkedClones, "linked clones %s depend on VMID %d; replacing it would break them (full-clone or remove them first)", joinInts(sorted), t.VMID)
	}
	a.Kind = plan.Rebuild
	a.Reasons = reasons
	return a
}

func keepMessage(t state.Template, s state.Stamp, now time.Time) string {
	msg := fmt.Sprintf("built %s ago from the same inputs (release %s)", humanDuration(now.Sub(s.BuiltAt)), s.Release)
	if t.Schedule != nil {
		next := t.Schedule.Next(now.In(loc(t)))
		msg += "; next patch rebuild " + next.Format("2006-01-02 15:04 MST")
	}
	return msg
}

func hardwareDrift(t state.Template, g state.Guest) string {
	var diffs []string
	if t.Cores > 0 && g.MaxCPU != t.Cores {
		diffs = append(diffs, fmt.Sprintf("cores %d (desired %d)", g.MaxCPU, t.Cores))
	}
	if t.MemoryMiB > 0 && g.MaxMem != int64(t.MemoryMiB)*mib {
		diffs = append(diffs, fmt.Sprintf("memory %d MiB (desired %d)", g.MaxMem/mib, t.MemoryMiB))
	}
	if t.DiskGB > 0 && g.MaxDisk != int64(t.DiskGB)*gib {
		diffs = append(diffs, fmt.Sprintf("disk %s (desired %dG)", gbString(g.MaxDisk), t.DiskGB))
	}
	return strings.Join(diffs, ", ")
}

func current(g state.Guest) *plan.Current {
	c := &plan.Current{Name: g.Name, Template: g.Template, Cores: g.MaxCPU, MemoryMiB: g.MaxMem / mib, DiskGB: g.MaxDisk / gib}
	if s, ok := state.StampFromTags(g.Tags); ok {
		c.Managed = true
		c.Release = s.Release
		c.InputsHash = s.InputsHash
		c.Images = s.Images
		if !s.BuiltAt.IsZero() {
			at := s.BuiltAt
			c.BuiltAt = &at
		}
	}
	return c
}

func unmanaged(d *state.Desired, guests []state.Guest, named map[int]bool) []plan.Unmanaged {
	var out []plan.Unmanaged
	for _, g := range guests {
		if !d.VMIDs.Templates.Contains(g.VMID) || named[g.VMID] {
			continue
		}
		s, stamped := state.StampFromTags(g.Tags)
		// A clone carries its template's stamp but is not templated's.
		owned := stamped && g.Template
		u := plan.Unmanaged{VMID: g.VMID, Name: g.Name, Type: g.Type, Template: g.Template, Managed: owned}
		switch {
		case stamped && !g.Template:
			u.Note = "a VM cloned from templated's template " + cmp.Or(s.Template, "(unnamed)") + " (it carries the template's stamp); templated never touches it"
		case owned:
			u.Note = "built by templated, no longer in the desired file; templated never deletes it"
		case g.Template:
			u.Note = "template not in the desired file"
		default:
			u.Note = "guest in the reserved template range"
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VMID < out[j].VMID })
	return out
}

func loc(t state.Template) *time.Location {
	if t.Location != nil {
		return t.Location
	}
	return time.UTC
}

func displayName(g state.Guest) string {
	if g.Name == "" {
		return "unnamed"
	}
	return fmt.Sprintf("%q", g.Name)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

func short(h string) string {
	if h == "" {
		return "none"
	}
	if len(h) > state.InputsTagLen {
		return h[:state.InputsTagLen]
	}
	return h
}

func gbString(b int64) string {
	if b%gib == 0 {
		return fmt.Sprintf("%dG", b/gib)
	}
	return fmt.Sprintf("%.1fG", float64(b)/gib)
}

// humanDuration prints a duration the way people say it: "9 days",
// "3 hours", "35 days".
func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	default:
		return fmt.Sprintf("%d seconds", int(d/time.Second))
	}
}
