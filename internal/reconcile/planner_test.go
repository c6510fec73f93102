package reconcile

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-version"
	"github.com/robfig/cron/v3"

	"templated/internal/plan"
	"templated/internal/state"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/plan")

var (
	now     = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	inputsA = "3f5e9a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddee"
	inputsB = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b"
)

func tmpl(name string, vmid int, release string) state.Template {
	london, _ := time.LoadLocation("Europe/London")
	sched, err := cron.ParseStandard("0 3 1 * *")
	if err != nil {
		panic(err)
	}
	return state.Template{
		Name: name, VMID: vmid, OS: "ubuntu", OSVersion: "22.04",
		Release: version.Must(version.NewSemver(release)),
		Packer:  "linux/ubuntu", VarFile: "linux/ubuntu/" + name + ".pkrvars.hcl", Build: "clone",
		Node: "pve1", Storage: "local-lvm", Cores: 2, MemoryMiB: 2048, DiskGB: 20,
		MaxAge: 35 * 24 * time.Hour, PatchSchedule: "0 3 1 * *", Schedule: sched,
		Timezone: "Europe/London", Location: london, KeepPrevious: 1,
	}
}

func desired(ts ...state.Template) *state.Desired {
	return &state.Desired{
		Version: 1, SHA256: "d1e2s3i4r5e6d7",
		VMIDs: state.VMIDRanges{
			Templates: state.Range{First: 9000, Last: 9199},
			Staging:   state.Range{First: 9900, Last: 9949},
			Previous:  state.Range{First: 9950, Last: 9999},
		},
		Templates: ts,
	}
}

// built returns a template guest as templated stamps it.
func built(name string, vmid int, release, inputs string, at time.Time) state.Guest {
	s := state.Stamp{Template: name, Release: release, InputsHash: inputs, BuiltAt: at, Role: state.RoleTemplate}
	return state.Guest{VMID: vmid, Name: name, Node: "pve1", Type: "qemu", Template: true, Status: "stopped",
		Tags: s.Tags(), MaxCPU: 2, MaxMem: 2048 << 20, MaxDisk: 20 << 30}
}

// withReplicas gives every template of d replicas on pve2 and pve3.
func withReplicas(d *state.Desired) *state.Desired {
	d.VMIDs.Replicas = map[string]state.Range{"pve2": {First: 9200, Last: 9399}, "pve3": {First: 9400, Last: 9599}}
	for i, t := range d.Templates {
		for _, n := range []string{"pve2", "pve3"} {
			d.Templates[i].Replicas = append(d.Templates[i].Replicas, state.Replica{Node: n,
				VMID: d.VMIDs.Replicas[n].First + t.VMID - d.VMIDs.Templates.First, Name: state.ReplicaName(t.Name, n)})
		}
	}
	return d
}

// replicaGuest is template guest g as its replica on node at vmid.
func replicaGuest(node string, vmid int, g state.Guest) state.Guest {
	s, _ := state.StampFromTags(g.Tags)
	s.Template = state.ReplicaName(g.Name, node)
	g.VMID, g.Node, g.Name, g.Tags = vmid, node, s.Template, s.Tags()
	return g
}

// offline is g as listed while its node does not answer.
func offline(g state.Guest) state.Guest {
	g.Status = "unknown"
	return g
}

func suspended22() state.Template {
	t := tmpl("tpl-ubuntu-22.04", 9000, "1.0.0")
	t.Suspended, t.SuspendReason = true, "kickstart broken upstream"
	return t
}

// clone is a VM cloned from template guest g: Proxmox copies its tags.
func clone(vmid int, name string, g state.Guest) state.Guest {
	g.VMID, g.Name, g.Template, g.Status = vmid, name, false, "running"
	return g
}

// builtWith is tpl-ubuntu-22.04 at 9000 as built with plugin version plugin.
func builtWith(plugin, inputs string, at time.Time) state.Guest {
	g := built("tpl-ubuntu-22.04", 9000, "1.0.0", inputs, at)
	g.Tags = state.Stamp{Template: g.Name, Release: "1.0.0", InputsHash: inputs, BuiltAt: at, Plugin: plugin}.Tags()
	return g
}

func inputs(names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		m[n] = inputsA
	}
	return m
}

func TestPlanGolden(t *testing.T) {
	nineDaysAgo := now.Add(-9 * 24 * time.Hour)
	// The last patch tick before now is 2026-11-01 03:00 London; a build
	// on 2026-11-05 is after it, one on 2026-10-28 before it.
	afterTick := time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
	beforeTick := time.Date(2026, 10, 28, 10, 0, 0, 0, time.UTC)
	t22 := tmpl("tpl-ubuntu-22.04", 9000, "1.0.0")
	t24 := tmpl("tpl-ubuntu-24.04", 9001, "1.0.0")
	suspended := tmpl("tpl-rocky-9", 9002, "1.0.0")
	suspended.Suspended, suspended.SuspendReason = true, "kickstart broken upstream, see INC-42"
	noSchedule := tmpl("tpl-ubuntu-22.04", 9000, "1.0.0")
	noSchedule.Schedule, noSchedule.PatchSchedule = nil, ""

	cases := []struct {
		name    string
		desired *state.Desired
		obs     state.Observed
	}{
		{"fresh-cluster", desired(t22, t24), state.Observed{Inputs: inputs("tpl-ubuntu-22.04", "tpl-ubuntu-24.04")}},
		{"replicas", withReplicas(desired(t22)), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick),
				replicaGuest("pve2", 9200, built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick))},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"replicas-follow", withReplicas(desired(t22)), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsB, afterTick),
				replicaGuest("pve2", 9200, built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsB, afterTick))},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"replica-outdated-offline", withReplicas(desired(t22)), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick),
				replicaGuest("pve2", 9200, built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsB, beforeTick)),
				offline(replicaGuest("pve3", 9400, built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsB, beforeTick)))},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"replica-waits", withReplicas(desired(suspended22())), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick),
				replicaGuest("pve2", 9200, built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick)),
				replicaGuest("pve3", 9400, built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsB, beforeTick))},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"clones", desired(t22, t24), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick),
				built("tpl-ubuntu-24.04", 9001, "1.0.0", inputsA, afterTick),
				clone(101, "rke2-server-1", built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick)),
				clone(102, "rke2-agent-1", built("tpl-ubuntu-22.04", 9000, "0.9.0", inputsB, beforeTick)),
				clone(103, "rke2-agent-2", built("tpl-ubuntu-22.04", 9000, "0.8.0", inputsB, now.Add(-100*24*time.Hour))),
				clone(9002, "rke2-agent-3", built("tpl-ubuntu-24.04", 9001, "1.0.0", inputsA, afterTick))},
			Inputs: inputs("tpl-ubuntu-22.04", "tpl-ubuntu-24.04")}},
		{"up-to-date", desired(t22), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick)},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"up-to-date-no-schedule", desired(noSchedule), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, nineDaysAgo)},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"inputs-changed", desired(t22), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsB, afterTick)},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"plugin-changed", desired(t22), state.Observed{
			Guests: []state.Guest{builtWith("1.1.1", inputsB, afterTick)},
			Inputs: inputs("tpl-ubuntu-22.04"), Plugin: "1.2.4"}},
		{"iso-missing", desired(t22, t24), state.Observed{Inputs: inputs("tpl-ubuntu-22.04", "tpl-ubuntu-24.04"),
			Unmet: map[string][]state.Unmet{"tpl-ubuntu-24.04": {{Code: plan.ReasonISOMissing,
				Message: "ISO local:iso/ubuntu-24.04.1-live-server-amd64.iso is not on storage local of node pve1: upload it, or correct the ISO's name in linux/ubuntu/tpl-ubuntu-24.04.pkrvars.hcl"}}}}},
		{"clone-source-missing", desired(t22), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsB, afterTick)},
			Inputs: inputs("tpl-ubuntu-22.04"),
			Unmet: map[string][]state.Unmet{"tpl-ubuntu-22.04": {{Code: plan.ReasonCloneSourceMissing,
				Message: "the clone build starts from base-ubuntu-22.04, which is on no node: make that base VM, or correct clone_vm in linux/ubuntu/tpl-ubuntu-22.04.pkrvars.hcl"}}}}},
		{"storage-unfit", desired(t22), state.Observed{Inputs: inputs("tpl-ubuntu-22.04"),
			Unmet: map[string][]state.Unmet{"tpl-ubuntu-22.04": {{Code: plan.ReasonStorageUnfit,
				Message: "storage local-lvm on node pve1 does not hold images (content: iso,vztmpl): set storage to one that holds VM disks, or add images to its content"}}}}},
		{"permission-missing", desired(t22), state.Observed{Inputs: inputs("tpl-ubuntu-22.04"),
			Unmet: map[string][]state.Unmet{"tpl-ubuntu-22.04": {
				{Code: plan.ReasonCloneSourceMissing, Message: "the clone build starts from base-ubuntu-22.04, which is on no node: make that base VM, or correct clone_vm in linux/ubuntu/tpl-ubuntu-22.04.pkrvars.hcl"},
				{Code: plan.ReasonPermissionMissing, Message: "the token lacks VM.Allocate, VM.Config.Disk on /vms/9900; Datastore.AllocateSpace on /storage/local-lvm: grant them (docs/permissions.md has the role templated needs)"}}}}},
		{"up-to-date-unmet-ignored", desired(t22), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick)},
			Inputs: inputs("tpl-ubuntu-22.04"),
			Unmet:  map[string][]state.Unmet{"tpl-ubuntu-22.04": {{Code: plan.ReasonStorageUnfit, Message: "storage gone"}}}}},
		{"inputs-changed-same-plugin", desired(t22), state.Observed{
			Guests: []state.Guest{builtWith("1.2.4", inputsB, afterTick)},
			Inputs: inputs("tpl-ubuntu-22.04"), Plugin: "1.2.4"}},
		{"release-bumped", desired(tmpl("tpl-ubuntu-22.04", 9000, "1.1.0")), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick)},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"release-downgrade", desired(tmpl("tpl-ubuntu-22.04", 9000, "0.9.0")), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick)},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"hardware-drift", desired(t22), state.Observed{
			Guests: []state.Guest{func() state.Guest {
				g := built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick)
				g.MaxMem, g.MaxCPU, g.MaxDisk = 4096<<20, 4, 32<<30
				return g
			}()},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"max-age", desired(noSchedule), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, now.Add(-40*24*time.Hour))},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"patch-tick-passed", desired(t22), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, beforeTick)},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"stamp-incomplete", desired(t22), state.Observed{
			Guests: []state.Guest{{VMID: 9000, Name: "tpl-ubuntu-22.04", Node: "pve1", Type: "qemu", Template: true,
				Status: "stopped", Tags: []string{"templated"}, MaxCPU: 2, MaxMem: 2048 << 20, MaxDisk: 20 << 30}},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"plain-vm", desired(t22), state.Observed{
			Guests: []state.Guest{{VMID: 9000, Name: "web-1", Node: "pve1", Type: "qemu", Status: "running"}},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"container", desired(t22), state.Observed{
			Guests: []state.Guest{{VMID: 9000, Name: "dns", Node: "pve1", Type: "lxc", Status: "running"}},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"unmanaged-template", desired(t22), state.Observed{
			Guests: []state.Guest{{VMID: 9000, Name: "tpl-ubuntu-22.04", Node: "pve1", Type: "qemu", Template: true,
				Status: "stopped", Tags: []string{"golden", "ubuntu"}, MaxCPU: 2, MaxMem: 2048 << 20, MaxDisk: 20 << 30}},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"name-elsewhere", desired(t22), state.Observed{
			Guests: []state.Guest{{VMID: 123, Name: "tpl-ubuntu-22.04", Node: "pve1", Type: "qemu", Template: true, Status: "stopped"}},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"duplicate-name", desired(t22), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick),
				{VMID: 456, Name: "tpl-ubuntu-22.04", Node: "pve1", Type: "qemu", Status: "running"}},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"other-name", desired(t22), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-20.04", 9000, "1.0.0", inputsA, afterTick)},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"locked", desired(t22), state.Observed{
			Guests: []state.Guest{func() state.Guest {
				g := built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick)
				g.Lock = "clone"
				return g
			}()},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"suspended", desired(suspended), state.Observed{Inputs: inputs("tpl-rocky-9")}},
		{"held", desired(t22), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsB, afterTick)},
			Holds:  map[string]state.Hold{"tpl-ubuntu-22.04": {Reason: "rolled back by alice", Since: nineDaysAgo, InputsHash: inputsA}},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"hold-released-by-change", desired(t22), state.Observed{
			Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsB, afterTick)},
			Holds:  map[string]state.Hold{"tpl-ubuntu-22.04": {Reason: "rolled back by alice", Since: nineDaysAgo, InputsHash: inputsB}},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"linked-clones", desired(t22), state.Observed{
			Guests:       []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsB, afterTick)},
			LinkedClones: map[int][]int{9000: {312, 301}},
			Inputs:       inputs("tpl-ubuntu-22.04")}},
		{"inputs-unknown", desired(t22), state.Observed{}},
		{"adopted", desired(t22), state.Observed{
			Guests: []state.Guest{func() state.Guest {
				g := built("ubuntu-2204-golden", 9000, "0.0.0", AdoptedInputs, afterTick)
				return g
			}()},
			Inputs: inputs("tpl-ubuntu-22.04")}},
		{"unmanaged-in-range", desired(t22), state.Observed{
			Guests: []state.Guest{
				built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsA, afterTick),
				built("tpl-debian-11", 9010, "2.0.0", inputsA, afterTick),
				{VMID: 9150, Name: "tpl-handmade", Node: "pve1", Type: "qemu", Template: true, Status: "stopped"},
				{VMID: 9151, Name: "scratch", Node: "pve1", Type: "qemu", Status: "running"},
				{VMID: 100, Name: "rke2-server-1", Node: "pve1", Type: "qemu", Status: "running"},
			},
			Inputs: inputs("tpl-ubuntu-22.04")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Plan(tc.desired, tc.obs, now)
			golden(t, filepath.Join("testdata", "plan", tc.name+".golden"), rendered(t, p, textView{"text", plan.TextOptions{Verbose: true}}))
		})
	}
}

// TestPlanCoversEveryReason fails when a reason code exists that no golden
// file shows, so a new reason cannot be added without a golden case.
func TestPlanCoversEveryReason(t *testing.T) {
	all := []string{plan.ReasonMissing, plan.ReasonInputsChanged, plan.ReasonReleaseBumped, plan.ReasonHardwareDrift,
		plan.ReasonMaxAge, plan.ReasonPatchDue, plan.ReasonUnknownBuild, plan.ReasonUpToDate, plan.ReasonPlainVM,
		plan.ReasonContainer, plan.ReasonUnmanaged, plan.ReasonNameElsewhere, plan.ReasonDuplicateName,
		plan.ReasonOtherName, plan.ReasonDowngrade, plan.ReasonSuspended, plan.ReasonHeld, plan.ReasonLinkedClones,
		plan.ReasonLocked, plan.ReasonInputsUnknown, plan.ReasonStampUnreadable, plan.ReasonAdopted,
		plan.ReasonImageUpdated, plan.ReasonImageUnresolved, plan.ReasonReplicaMissing, plan.ReasonReplicaFollows,
		plan.ReasonReplicaOutdated, plan.ReasonReplicaWaits, plan.ReasonNodeOffline}
	files, _ := filepath.Glob(filepath.Join("testdata", "plan", "*.golden"))
	var all_ []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all_ = append(all_, b...)
	}
	for _, code := range all {
		if !bytes.Contains(all_, []byte(`"code": "`+code+`"`)) {
			t.Errorf("no golden plan shows reason %q", code)
		}
	}
}

func TestPlanIsDeterministicAndPure(t *testing.T) {
	d := desired(tmpl("tpl-ubuntu-22.04", 9000, "1.0.0"), tmpl("tpl-ubuntu-24.04", 9001, "1.0.0"))
	obs := state.Observed{Guests: []state.Guest{built("tpl-ubuntu-22.04", 9000, "1.0.0", inputsB, now)}, Inputs: inputs("tpl-ubuntu-22.04", "tpl-ubuntu-24.04")}
	var a, b bytes.Buffer
	_ = plan.WriteJSON(&a, Plan(d, obs, now))
	_ = plan.WriteJSON(&b, Plan(d, obs, now))
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two plans of the same inputs differ")
	}
	if obs.Guests[0].Tags == nil || len(d.Templates) != 2 {
		t.Fatal("Plan modified its inputs")
	}
}

// textView is one text rendering a golden file holds, under its heading.
type textView struct {
	heading string
	opts    plan.TextOptions
}

// rendered is p as the golden files hold it: its JSON, then its text in
// each view.
func rendered(t *testing.T, p plan.Plan, views ...textView) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := plan.WriteJSON(&buf, p); err != nil {
		t.Fatal(err)
	}
	for _, v := range views {
		fmt.Fprintf(&buf, "\n--- %s ---\n", v.heading)
		if err := plan.WriteText(&buf, p, v.opts); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what Plan made (go test -update rewrites it):\n--- got ---\n%s", path, got)
	}
}
