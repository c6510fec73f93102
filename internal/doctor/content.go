package doctor

import (
	"fmt"
	"slices"
	"strings"

	"templated/internal/state"
)

// isoCheck: the ISOs iso builds name are on their ISO storage.
func isoCheck(s *Snapshot) Result {
	const id, name = "isos", "installer ISOs"
	var lack, unread, found []string
	for _, t := range s.Templates {
		if t.Build != "iso" {
			continue
		}
		if t.VarErr != "" {
			unread = append(unread, t.Name+": "+t.VarErr)
			continue
		}
		n := s.API.Nodes[t.Node]
		if n == nil {
			continue
		}
		if p := n.VolumesErr[t.ISOStorage]; p != nil {
			unread = append(unread, fmt.Sprintf("%s: %s", t.ISOStorage, p.Msg))
			continue
		}
		vols, listed := n.Volumes[t.ISOStorage]
		if !listed {
			continue // the storage check says why
		}
		for _, iso := range t.ISOs {
			vol := t.ISOStorage + ":iso/" + iso
			if slices.Contains(vols, vol) {
				found = append(found, vol)
			} else {
				lack = append(lack, fmt.Sprintf("%s (%s, on %s)", vol, t.Name, t.Node))
			}
		}
	}
	switch {
	case len(lack) > 0:
		return fail(id, name, fmt.Sprintf("%s missing: %s", plural(len(lack), "ISO", "ISOs"), strings.Join(lack, "; ")),
			"upload each to its storage (`pvesh create /nodes/NODE/storage/STORAGE/download-url --content iso --filename FILE --url URL`, or the web UI's Upload), or fix iso_filename/extra_iso_files in the var file", lack...)
	case len(unread) > 0:
		return warn(id, name, "could not check every ISO", "fix what the details say", unread...)
	case len(found) == 0:
		return pass(id, name, "no iso builds")
	}
	return pass(id, name, fmt.Sprintf("%s present", plural(len(dedup(found)), "ISO", "ISOs")))
}

// cloneCheck: the base VMs clone builds name exist.
func cloneCheck(s *Snapshot) Result {
	const id, name = "clone-bases", "clone base VMs"
	if p := s.API.GuestsErr; p != nil {
		return fail(id, name, "GET /cluster/resources failed: "+p.Msg, "grant VM.Audit on /vms to the token (docs/permissions.md)")
	}
	ids := cloneVMIDs(s)
	var lack, found, notTpl, made []string
	for _, t := range s.Templates {
		if t.Build != "clone" || t.VarErr != "" {
			continue
		}
		if t.CloneVM == "" && len(t.Images) > 0 {
			made = append(made, t.Name)
			continue
		}
		want := t.CloneVM
		vmid, ok := ids[t.Name]
		if !ok {
			lack = append(lack, fmt.Sprintf("%s (clone base of %s)", want, t.Name))
			continue
		}
		found = append(found, want)
		for _, g := range s.API.Guests {
			if g.VMID == vmid && !g.Template {
				notTpl = append(notTpl, fmt.Sprintf("%s (%d) is not a template", want, vmid))
			}
		}
	}
	switch {
	case len(lack) > 0:
		return fail(id, name, fmt.Sprintf("%s missing: %s", plural(len(lack), "base VM", "base VMs"), strings.Join(lack, "; ")),
			"make the base VM from the distribution's cloud image (`qm create`, `qm importdisk`, `qm template`; packer/README.md), grant the token VM.Audit on it, or set clone_vm in the var file to a VM that exists", lack...)
	case len(notTpl) > 0:
		return warn(id, name, strings.Join(notTpl, "; "), "convert it to a template (`qm template VMID`): clones of a running VM copy its live disks")
	case len(found) == 0 && len(made) > 0:
		return pass(id, name, "templated makes the base VMs of "+strings.Join(made, ", ")+" from their images")
	case len(found) == 0:
		return pass(id, name, "no clone builds")
	}
	return pass(id, name, strings.Join(dedup(found), ", ")+" present")
}

// foreignCheck: guests in the staging and previous ranges that templated
// does not own.
func foreignCheck(s *Snapshot) Result {
	const id, name = "ranges.foreign", "staging and previous ranges"
	if s.API.GuestsErr != nil {
		return warn(id, name, "could not list guests", "see clone base VMs")
	}
	lease := leaseVMID(s.Ranges)
	var foreign []string
	for _, g := range s.API.Guests {
		if !s.Ranges.Staging.Contains(g.VMID) && !s.Ranges.Previous.Contains(g.VMID) {
			continue
		}
		if _, ok := state.StampFromTags(g.Tags); ok {
			continue
		}
		if g.VMID == lease && g.Name == leaseName {
			continue
		}
		foreign = append(foreign, fmt.Sprintf("%d %s (%s on %s)", g.VMID, g.Name, g.Type, g.Node))
	}
	if len(foreign) == 0 {
		return pass(id, name, fmt.Sprintf("%d-%d and %d-%d hold only templated's guests", s.Ranges.Staging.First, s.Ranges.Staging.Last, s.Ranges.Previous.First, s.Ranges.Previous.Last))
	}
	msg := fmt.Sprintf("%s that templated does not own: %s", plural(len(foreign), "guest", "guests"), strings.Join(foreign, "; "))
	fix := "move them out (`qm clone` then `qm destroy`, or change the vmids ranges in desired/templates.yaml); templated never touches them, but they take staging VMIDs"
	if slices.ContainsFunc(s.API.Guests, func(g state.Guest) bool {
		_, ok := state.StampFromTags(g.Tags)
		return g.VMID == lease && !ok && g.Name != leaseName
	}) {
		return fail(id, name, msg+fmt.Sprintf("; VMID %d is the cluster lease's", lease),
			fmt.Sprintf("free VMID %d: templated holds its cluster lease there and refuses to act while another guest has it; %s", lease, fix), foreign...)
	}
	return warn(id, name, msg, fix, foreign...)
}

// nextIDCheck: PVE's next-id range must not hand out templated's VMIDs.
func nextIDCheck(s *Snapshot) Result {
	const id, name = "next-id", "next-id range"
	a := s.API
	if a.NextIDErr != nil {
		return warn(id, name, "could not read GET /cluster/options: "+a.NextIDErr.Msg, "grant Sys.Audit on / to the token")
	}
	if a.PermsErr == nil && !a.Perms.Has("/", "Sys.Audit") {
		return warn(id, name, "GET /cluster/options left out the datacenter settings (the token lacks Sys.Audit on /)", "grant Sys.Audit on / to the token (docs/permissions.md)")
	}
	r := s.Ranges
	lower, upper := 100, 1000000
	if a.NextID.Set {
		lower, upper = a.NextID.Lower, a.NextID.Upper
	}
	var hit []string
	lowest := r.Templates.First
	for _, rg := range []struct {
		name string
		r    state.Range
	}{{"templates", r.Templates}, {"staging", r.Staging}, {"previous", r.Previous}} {
		lowest = min(lowest, rg.r.First)
		if rg.r.First <= upper && rg.r.Last >= lower {
			hit = append(hit, fmt.Sprintf("%s %d-%d", rg.name, rg.r.First, rg.r.Last))
		}
	}
	switch {
	case len(hit) == 0:
		return pass(id, name, fmt.Sprintf("next-id %d-%d is clear of templated's ranges", lower, upper))
	case !a.NextID.Set:
		return pass(id, name, "next-id is not set: PVE hands out the lowest free VMID from 100, below templated's ranges until that many guests exist",
			fmt.Sprintf("to keep them apart for good: `pvesh set /cluster/options --next-id lower=100,upper=%d`", lowest-1))
	}
	return fail(id, name, fmt.Sprintf("next-id %d-%d overlaps templated's %s: a VM created without a VMID can take a template's place", lower, upper, strings.Join(hit, ", ")),
		fmt.Sprintf("move next-id below templated's ranges (`pvesh set /cluster/options --next-id lower=100,upper=%d`) or move the vmids ranges in desired/templates.yaml", lowest-1))
}

func dedup(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
