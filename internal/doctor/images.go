package doctor

import (
	"slices"

	"templated/internal/state"
)

// The privileges of the images and bases operations, as PVE checks them
// (the simulator, internal/pvesim routes.go, importfrom.go and vmperm.go,
// enforces the same):
//
//   - POST /nodes/{node}/storage/{storage}/download-url (pve-storage
//     src/PVE/API2/Storage/Status.pm download_url): Datastore.AllocateTemplate
//     on /storage/{storage}, and Sys.Audit and Sys.Modify on / or
//     Sys.AccessNetwork on /nodes/{node} (the task reaches the network from
//     the node; Sys.AccessNetwork exists since pve-access-control 8.1.2, PVE
//     8.1, and in PVE 9; the check is the same in PVE 8 and 9). Import
//     content exists since PVE 8.3, .qcow2/.raw/.vmdk files since PVE 8.4.
//   - GET …/storage/{storage}/content (is the image there?): Datastore.Audit
//     or Datastore.AllocateSpace.
//   - POST /nodes/{node}/qemu (qemu-server src/PVE/API2/Qemu.pm create_vm)
//     for a base VM: VM.Allocate on /vms/{vmid}; the config keys by
//     $check_vm_modify_config_perm (cores, sockets: VM.Config.CPU; memory:
//     .Memory; scsihw, vga: .HWType; name, description, ostype, agent,
//     tags: .Options; boot: .Disk; net0: .Network); serial0=socket:
//     VM.Config.HWType ($check_vm_create_serial_perm); the new disk and the
//     cloud-init drive: Datastore.AllocateSpace on their storage
//     ($check_storage_access); import-from an import volume:
//     Datastore.Allocate, or Datastore.AllocateSpace or Datastore.Audit, on
//     the image's storage (check_volume_access); net0's bridge: SDN.Use.
//   - POST …/qemu/{vmid}/template and, for a failed conversion, DELETE:
//     VM.Allocate.

// cloudImage is the cloud image a clone build starts from, if any.
func cloudImage(t Template) (Image, bool) {
	if t.Build != state.BuildClone {
		return Image{}, false
	}
	i := slices.IndexFunc(t.Images, func(im Image) bool { return im.Kind == state.ImageCloud })
	if i < 0 {
		return Image{}, false
	}
	return t.Images[i], true
}

// imageNeeds is what downloading the templates' images needs: on each
// image's storage and on each node it goes to.
func imageNeeds(s *Snapshot) []need {
	var out []need
	seen := map[string]bool{}
	add := func(n need) {
		key := n.path + " " + n.why
		if !seen[key] {
			seen[key] = true
			out = append(out, n)
		}
	}
	for _, t := range s.Templates {
		for _, im := range t.Images {
			st := "/storage/" + im.Storage
			add(need{path: st, privs: []string{"Datastore.AllocateTemplate"}, why: "download " + im.Name + " onto " + im.Storage + " (download-url)"})
			add(need{path: st, privs: []string{"Datastore.Audit", "Datastore.AllocateSpace"}, any: true,
				why: "see whether " + im.Name + " is on " + im.Storage})
			for _, n := range im.Nodes {
				add(need{path: "/nodes/" + n, privs: []string{"Sys.AccessNetwork"},
					why: "download-url on " + n + " reaches the network from the node (Sys.Audit and Sys.Modify on / do instead)",
					or:  []need{{path: "/", privs: []string{"Sys.Audit", "Sys.Modify"}}}})
			}
		}
	}
	return out
}

// baseNeeds is what making base VMs from cloud images needs: nothing
// without a bases range or a clone build from a cloud image.
func baseNeeds(s *Snapshot) []need {
	bases := s.Ranges.Bases
	if bases == (state.Range{}) {
		return nil
	}
	var out []need
	vm := func(why string, privs ...string) {
		out = append(out, need{path: "/vms", vmids: bases, privs: privs, why: why})
	}
	path := func(p, why string, any bool, privs ...string) {
		out = append(out, need{path: p, privs: privs, any: any, why: why})
	}
	for _, t := range s.Templates {
		im, ok := cloudImage(t)
		if !ok {
			continue
		}
		if len(out) == 0 {
			vm("create a base VM (POST qemu), convert it (template), remove one that failed (DELETE)", "VM.Allocate")
			vm("find the base VMs (GET /cluster/resources)", "VM.Audit")
			vm("cores, sockets", "VM.Config.CPU")
			vm("memory", "VM.Config.Memory")
			vm("scsihw, vga, the serial0 socket", "VM.Config.HWType")
			vm("name, description, tags, ostype, agent", "VM.Config.Options")
			vm("boot order", "VM.Config.Disk")
			vm("net0", "VM.Config.Network")
		}
		path("/storage/"+t.Storage, "the disk and cloud-init drive of "+t.Name+"'s base VM on "+t.Storage, false, "Datastore.AllocateSpace")
		// Datastore.Allocate would do too, but listing the storage
		// (images) needs one of these anyway.
		path("/storage/"+im.Storage, "import "+im.Name+" from "+im.Storage+" (import-from)", true,
			"Datastore.Audit", "Datastore.AllocateSpace")
		bridge := t.Bridge
		if bridge == "" {
			bridge = "vmbr0"
		}
		path("/sdn/zones/localnetwork/"+bridge, "net0 of "+t.Name+"'s base VM on bridge "+bridge, false, "SDN.Use")
	}
	return out
}
