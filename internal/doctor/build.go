package doctor

import (
	"strings"

	"templated/internal/proxmox"
	"templated/internal/state"
)

// BuildMissing says which privileges perms lacks for building t and
// swapping it in (the build, verify, swap and lease operations doctor
// checks, and with images the images and bases ones), grouped by
// privilege with the paths that lack it: "VM.Allocate on /vms/9900-9948;
// VM.Clone on /vms/8000". It is "" when nothing is missing. The plan uses
// it to block a build that would fail; major is PVE's major version (the
// guest agent's privilege differs), guests the cluster's guests (the
// clone base's VMID), root the Packer workspace, images the desired
// file's images (those t names are downloaded, a cloud image made into a
// base VM in ranges.Bases; none given: t's images are not checked).
func BuildMissing(perms proxmox.Permissions, ranges state.VMIDRanges, root string, t state.Template, guests []state.Guest, major int, images ...state.Image) string {
	s := &Snapshot{Ranges: ranges, Templates: []Template{templateNeeds(root, t, images)}, API: &API{Guests: guests}}
	clones := cloneVMIDs(s)
	var parts []string
	seen := map[string]bool{}
	for _, op := range []string{"images", "bases", "build", "verify", "swap", "lease"} {
		for _, n := range needs(op, s, major, clones) {
			for _, m := range n.check(perms) {
				if p := m.priv + " on " + m.paths; !seen[p] {
					seen[p] = true
					parts = append(parts, p)
				}
			}
		}
	}
	return strings.Join(parts, "; ")
}
