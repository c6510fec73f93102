package doctor_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"templated/internal/doctor"
	"templated/internal/proxmox"
	"templated/internal/pvesim"
	"templated/internal/state"
)

const repToken, repSecret = "rep@pve!copy", "6f0f8a52-0000-4000-8000-0000000000e2"

// replicaGrants is what doctor asks for to place copies of a build on
// other nodes, with VM.Migrate left out when migrate is false.
func replicaGrants(migrate bool) []grant {
	vms := []string{"VM.Allocate", "VM.Audit", "VM.Clone", "VM.Config.Disk", "VM.Config.Options"}
	if migrate {
		vms = append(vms, "VM.Migrate")
	}
	return []grant{{"/vms", vms}, {"/storage/local-lvm", []string{"Datastore.AllocateSpace"}}}
}

// replicaWorld is the three-node simulator whose token rep@pve!copy has
// exactly grants, and tpl-ubuntu-22.04 with replicas on pve2 and pve3;
// a stopped VM 9901 on pve1 stands for the copy templated migrates.
func replicaWorld(t *testing.T, grants []grant) *world {
	w := newWorld(t, "", func(s *pvesim.Seed) {
		*s = *pvesim.ThreeNodeSeed()
		s.Access = tokenAccess("rep@pve", repToken, repSecret, grants)
		s.Guests = append(s.Guests, pvesim.GuestSpec{VMID: 9901, Node: "pve1", Name: "tpl-ubuntu-22.04-copy",
			Config: map[string]string{"scsi0": "local-lvm:vm-9901-disk-0,size=4G", "memory": "2048"}})
	})
	w.token(repToken, repSecret)
	w.only("tpl-ubuntu-22.04")
	w.desire.VMIDs.Replicas = map[string]state.Range{"pve2": {First: 9200, Last: 9399}, "pve3": {First: 9400, Last: 9599}}
	w.each(func(t *state.Template) {
		t.Replicas = []state.Replica{{Node: "pve2", VMID: 9200, Name: "tpl-ubuntu-22.04-pve2"}, {Node: "pve3", VMID: 9400, Name: "tpl-ubuntu-22.04-pve3"}}
	})
	return w
}

// replicaPrivileges runs doctor and returns its privileges.replicas.
func (w *world) replicaPrivileges() doctor.Result {
	w.t.Helper()
	_, rs := w.run()
	i := slices.IndexFunc(rs, func(r doctor.Result) bool { return r.ID == "privileges.replicas" })
	if i < 0 {
		w.t.Fatalf("doctor reported no privileges.replicas: %v", rs)
	}
	return rs[i]
}

// TestReplicaPrivilegesMatchPVE: with the grants doctor asks for, the
// copy's offline migration works; without VM.Migrate doctor names it, on
// the staging range, and PVE refuses the migration.
func TestReplicaPrivilegesMatchPVE(t *testing.T) {
	for _, migrate := range []bool{true, false} {
		t.Run(fmt.Sprintf("VM.Migrate=%v", migrate), func(t *testing.T) {
			t.Parallel()
			w := replicaWorld(t, replicaGrants(migrate))
			r := w.replicaPrivileges()
			c, err := proxmox.New(w.in.Conn, proxmox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			merr := c.Migrate(t.Context(), "pve1", 9901, "pve2", "local-lvm")
			if migrate {
				if r.Status != doctor.Pass || merr != nil {
					t.Fatalf("doctor: %s %q %v; migrate: %v", r.Status, r.Message, r.Details, merr)
				}
				return
			}
			if r.Status != doctor.Fail || !strings.Contains(r.Message, "VM.Migrate") ||
				!slices.ContainsFunc(r.Details, func(d string) bool { return strings.HasPrefix(d, "VM.Migrate on /vms/9900-") }) {
				t.Fatalf("doctor without VM.Migrate: %s %q %v", r.Status, r.Message, r.Details)
			}
			if merr == nil || !strings.Contains(merr.Error(), "VM.Migrate") {
				t.Fatalf("PVE let the copy migrate without VM.Migrate: %v", merr)
			}
		})
	}
}

// TestReplicaPrivilegesOnlyWithReplicas: a template without replicas
// asks nothing of migration.
func TestReplicaPrivilegesOnlyWithReplicas(t *testing.T) {
	w := replicaWorld(t, replicaGrants(false))
	w.each(func(t *state.Template) { t.Replicas = nil })
	_, rs := w.run()
	if slices.ContainsFunc(rs, func(r doctor.Result) bool { return r.ID == "privileges.replicas" }) {
		t.Fatal("privileges.replicas reported for templates without replicas")
	}
}
