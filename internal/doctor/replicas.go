package doctor

import (
	"strings"

	"templated/internal/state"
)

// replicaNeeds are the privileges of placing a build on its replicas'
// nodes (docs/replicas.md): a full clone of the template on its node to
// a staging VMID (qemu-server's clone_vm), the offline migration of that
// copy with a target storage (migrate_vm: VM.Migrate, and VM.Config.Disk
// for a storage map; $check_storage_access_migrate: AllocateSpace on the
// target storage), then the swap at each replica's VMID as a template's.
func replicaNeeds(s *Snapshot) []need {
	staging := stagingBuilds(s.Ranges)
	var out []need
	vm := func(rg state.Range, why string, privs ...string) {
		out = append(out, need{path: "/vms", vmids: rg, privs: privs, why: why})
	}
	for _, t := range s.Templates {
		if len(t.Replicas) == 0 {
			continue
		}
		nodes := make([]string, len(t.Replicas))
		for i, r := range t.Replicas {
			nodes[i] = r.Node
		}
		on := strings.Join(nodes, ", ")
		vm(one(t.VMID), "full clone of "+t.Name+" to copy it to "+on, "VM.Clone", "VM.Audit")
		vm(staging, "migrate the copy of "+t.Name+" offline to "+on+" with a target storage (POST migrate)", "VM.Migrate", "VM.Config.Disk", "VM.Allocate")
		out = append(out, need{path: "/storage/" + t.Storage, privs: []string{"Datastore.AllocateSpace"},
			why: "the copy's disks on " + t.Storage + " of " + on})
		for _, r := range t.Replicas {
			vm(one(r.VMID), "keep, remove and replace replica "+r.Name+" on "+r.Node+", stamp it", "VM.Clone", "VM.Allocate", "VM.Audit", "VM.Config.Options")
		}
	}
	return out
}
