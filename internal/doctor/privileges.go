package doctor

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"templated/internal/proxmox"
	"templated/internal/state"
)

// The privileges each operation needs, and where PVE checks them
// (docs/permissions.md cites the sources): qemu-server's
// src/PVE/API2/Qemu.pm (create_vm, update_vm's $check_vm_modify_config_perm
// and $check_drive_perms, clone_vm, template, destroy_vm, the power
// actions, sendkey), src/PVE/API2/Qemu/Agent.pm, pve-storage's
// src/PVE/API2/Storage/Content.pm and Status.pm (upload), pve-manager's
// Cluster.pm and Nodes.pm, and pve-access-control's AccessControl.pm
// ($privgroups: which names exist in PVE 8 and 9). images.go holds the
// images and bases operations.

// Operations, in the order doctor reports them.
var operations = []string{"plan", "images", "bases", "build", "verify", "swap", "replicas", "prune", "adopt", "rollback", "lease", "doctor"}

var opNames = map[string]string{
	"plan":     "observe the cluster (plan)",
	"images":   "download images onto storages (download-url)",
	"bases":    "make base VMs from cloud images",
	"build":    "build at a staging VMID (Packer)",
	"verify":   "verify and stamp a build",
	"swap":     "swap a build in at the reserved VMID",
	"replicas": "copy a build to its replicas' nodes (clone, offline migration, swap)",
	"prune":    "prune previous versions",
	"adopt":    "adopt a hand-built template",
	"rollback": "roll back to a previous version",
	"lease":    "hold the cluster lease",
	"doctor":   "read what doctor checks",
}

// need is privileges on a path (any one of them when any is set); on a
// VMID range, on each of its VMIDs. Having everything one of the needs in
// or asks for does instead; what is missing is then reported as this
// need's (the recommended grant).
type need struct {
	path  string
	vmids state.Range // path is "/vms" and every VMID of the range counts
	privs []string
	any   bool
	why   string
	or    []need
}

// agentPriv is what Packer's guest-agent calls (network-get-interfaces
// for the build's IP address) need: VM.Monitor up to PVE 8, one of the
// VM.GuestAgent.* privileges since PVE 9 (qemu-server's Agent.pm).
func agentPriv(major int) string {
	if major >= 9 {
		return "VM.GuestAgent.Audit"
	}
	return "VM.Monitor"
}

// stagingBuilds is the staging range without the lease VMID (its last).
func stagingBuilds(r state.VMIDRanges) state.Range {
	return state.Range{First: r.Staging.First, Last: r.Staging.Last - 1}
}

func leaseVMID(r state.VMIDRanges) int { return r.Staging.Last }

func one(vmid int) state.Range { return state.Range{First: vmid, Last: vmid} }

// needs lists what op needs, for the templates and ranges of s, on a PVE
// of major version major.
func needs(op string, s *Snapshot, major int, cloneVMIDs map[string]int) []need {
	r := s.Ranges
	staging, previous := stagingBuilds(r), r.Previous
	var out []need
	vm := func(rg state.Range, why string, privs ...string) {
		out = append(out, need{path: "/vms", vmids: rg, privs: privs, why: why})
	}
	path := func(p, why string, any bool, privs ...string) {
		out = append(out, need{path: p, privs: privs, any: any, why: why})
	}
	switch op {
	case "plan":
		vm(r.Templates, "GET /cluster/resources lists only guests with VM.Audit", "VM.Audit")
		vm(r.Staging, "GET /cluster/resources lists only guests with VM.Audit", "VM.Audit")
		vm(previous, "GET /cluster/resources lists only guests with VM.Audit", "VM.Audit")
		for _, n := range slices.Sorted(maps.Keys(r.Replicas)) {
			vm(r.Replicas[n], "GET /cluster/resources lists only guests with VM.Audit (replicas on "+n+")", "VM.Audit")
		}
	case "images":
		out = imageNeeds(s)
	case "bases":
		out = baseNeeds(s)
	case "build":
		vm(staging, "create, clone to, template and delete the build (POST qemu, clone, template; DELETE)", "VM.Allocate")
		vm(staging, "read the build's config and status", "VM.Audit")
		vm(staging, "cores, sockets, cpu", "VM.Config.CPU")
		vm(staging, "memory", "VM.Config.Memory")
		vm(staging, "disks, boot order, resize", "VM.Config.Disk")
		vm(staging, "installer ISOs and the cloud-init drive", "VM.Config.CDROM")
		vm(staging, "the cloud-init drive and its settings", "VM.Config.Cloudinit")
		vm(staging, "net0", "VM.Config.Network")
		vm(staging, "scsihw, machine", "VM.Config.HWType")
		vm(staging, "name, ostype, agent, description, tags", "VM.Config.Options")
		vm(staging, "start, stop, shutdown", "VM.PowerMgmt")
		vm(staging, "the guest agent's network-get-interfaces (the build's IP)", agentPriv(major))
		for _, t := range s.Templates {
			path("/storage/"+t.Storage, "disks of "+t.Name+" on "+t.Storage, false, "Datastore.AllocateSpace")
			if t.Bridge != "" {
				path("/sdn/zones/localnetwork/"+t.Bridge, "net0 on bridge "+t.Bridge, false, "SDN.Use")
			}
			switch t.Build {
			case "iso":
				vm(staging, "boot_command keystrokes (PUT sendkey)", "VM.Console")
				path("/storage/"+t.ISOStorage, "read the ISOs of "+t.Name, true, "Datastore.AllocateSpace", "Datastore.Audit")
				if t.Answers {
					path("/storage/"+t.ISOStorage, "upload the answer ISO of "+t.Name, false, "Datastore.AllocateTemplate")
					path("/storage/"+t.ISOStorage, "delete the answer ISO of "+t.Name+" afterwards", false, "Datastore.Allocate")
				}
			case "clone":
				if id, ok := cloneVMIDs[t.Name]; ok {
					vm(one(id), "clone the base VM of "+t.Name, "VM.Clone", "VM.Audit")
				}
				if im, ok := cloudImage(t); ok && r.Bases != (state.Range{}) {
					vm(r.Bases, "clone the base VM of "+t.Name+" made from "+im.Name, "VM.Clone", "VM.Audit")
				}
			}
		}
	case "verify":
		vm(staging, "read the staged template's config", "VM.Audit")
		vm(staging, "stamp it (tags, description)", "VM.Config.Options")
	case "swap":
		for _, t := range s.Templates {
			vm(one(t.VMID), "copy "+t.Name+" to the previous range, remove it, clone the build there, convert it", "VM.Clone", "VM.Allocate", "VM.Audit")
			vm(one(t.VMID), "stamp "+t.Name, "VM.Config.Options")
			path("/storage/"+t.Storage, "full clones of "+t.Name+" on "+t.Storage, false, "Datastore.AllocateSpace")
		}
		vm(previous, "the copy kept for rollback", "VM.Allocate", "VM.Config.Options")
		vm(staging, "clone the build, then remove it", "VM.Clone", "VM.Allocate")
	case "replicas":
		out = replicaNeeds(s)
	case "prune":
		vm(previous, "read and delete versions beyond keep_previous", "VM.Audit", "VM.Allocate")
		for _, t := range s.Templates {
			path("/storage/"+t.Storage, "look for linked clones on "+t.Storage, true, "Datastore.Audit", "Datastore.AllocateSpace")
		}
	case "adopt":
		for _, t := range s.Templates {
			vm(one(t.VMID), "read and stamp "+t.Name, "VM.Audit", "VM.Config.Options")
		}
	case "rollback":
		vm(previous, "clone the kept version back", "VM.Clone", "VM.Audit")
		for _, t := range s.Templates {
			vm(one(t.VMID), "replace "+t.Name+" and convert the clone", "VM.Allocate", "VM.Config.Options")
			path("/storage/"+t.Storage, "full clones of "+t.Name+" on "+t.Storage, false, "Datastore.AllocateSpace")
		}
	case "lease":
		vm(one(leaseVMID(r)), "create the lease guest and renew it by compare-and-swap", "VM.Allocate", "VM.Config.Options", "VM.Audit")
	case "doctor":
		path("/", "GET /cluster/status; next-id in GET /cluster/options", false, "Sys.Audit")
		for _, n := range templateNodes(s) {
			path("/nodes/"+n, "GET /nodes/"+n+"/time", false, "Sys.Audit")
		}
		for _, st := range templateStorages(s) {
			path("/storage/"+st, "list "+st+"'s state and content", true, "Datastore.Audit", "Datastore.AllocateSpace")
		}
	}
	return out
}

// missing is one privilege lacking on some paths.
type missing struct {
	priv  string
	paths string // "/vms/9900-9948", "/storage/local"
	why   string
}

// check returns what n lacks (nothing when one of its alternatives is
// granted whole).
func (n need) check(p proxmox.Permissions) []missing {
	lack := n.lacks(p)
	if len(lack) == 0 {
		return nil
	}
	for _, alt := range n.or {
		if len(alt.lacks(p)) == 0 {
			return nil
		}
	}
	return lack
}

// lacks returns what n itself lacks.
func (n need) lacks(p proxmox.Permissions) []missing {
	if n.vmids.First == 0 && n.vmids.Last == 0 {
		ok := n.any && slices.ContainsFunc(n.privs, func(pr string) bool { return p.Has(n.path, pr) })
		if ok {
			return nil
		}
		var out []missing
		if n.any {
			if !ok {
				out = append(out, missing{priv: strings.Join(n.privs, " or "), paths: n.path, why: n.why})
			}
			return out
		}
		for _, pr := range n.privs {
			if !p.Has(n.path, pr) {
				out = append(out, missing{priv: pr, paths: n.path, why: n.why})
			}
		}
		return out
	}
	var out []missing
	for _, pr := range n.privs {
		var lack []int
		for id := n.vmids.First; id <= n.vmids.Last; id++ {
			if !p.Has("/vms/"+strconv.Itoa(id), pr) {
				lack = append(lack, id)
			}
		}
		if len(lack) > 0 {
			out = append(out, missing{priv: pr, paths: vmidPaths(lack), why: n.why})
		}
	}
	return out
}

// vmidPaths words VMIDs as runs: "/vms/9900-9948", "/vms/9000, /vms/9002".
func vmidPaths(ids []int) string {
	var parts []string
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprintf("/vms/%d", ids[i]))
		} else {
			parts = append(parts, fmt.Sprintf("/vms/%d-%d", ids[i], ids[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

func templateNodes(s *Snapshot) []string {
	var out []string
	for _, t := range s.Templates {
		if !slices.Contains(out, t.Node) {
			out = append(out, t.Node)
		}
	}
	slices.Sort(out)
	return out
}

func templateStorages(s *Snapshot) []string {
	var out []string
	for _, t := range s.Templates {
		for _, st := range []string{t.Storage, t.ISOStorage} {
			if st != "" && !slices.Contains(out, st) {
				out = append(out, st)
			}
		}
	}
	slices.Sort(out)
	return out
}
