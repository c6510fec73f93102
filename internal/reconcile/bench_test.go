package reconcile

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"templated/internal/proxmox"
	"templated/internal/pvesim"
	"templated/internal/state"
)

// benchWorld is 200 desired templates, all built and up to date, among
// 10,000 guests.
func benchWorld(b *testing.B) (*state.Desired, map[string]string, []pvesim.GuestSpec) {
	b.Helper()
	var ts []state.Template
	inputs := map[string]string{}
	var specs []pvesim.GuestSpec
	for i := 0; i < 200; i++ {
		t := tmpl(fmt.Sprintf("tpl-ubuntu-%d.04", 100+i), 9000+i, "1.0.0")
		t.Node = "pve1"
		ts = append(ts, t)
		inputs[t.Name] = inputsA
		s := state.Stamp{Template: t.Name, Release: "1.0.0", InputsHash: inputsA, BuiltAt: now.Add(-time.Hour), Role: state.RoleTemplate}
		specs = append(specs, pvesim.GuestSpec{VMID: t.VMID, Node: "pve1", Name: t.Name, Template: true, Tags: strings.Join(s.Tags(), ";"),
			Config: map[string]string{"cores": "2", "memory": "2048", "scsi0": fmt.Sprintf("local-lvm:base-%d-disk-0,size=20G", t.VMID)}})
	}
	for i := 0; len(specs) < 10000; i++ {
		specs = append(specs, pvesim.GuestSpec{VMID: 10000 + i, Node: "pve1", Name: fmt.Sprintf("vm-%d", i), Running: i%3 == 0,
			Config: map[string]string{"cores": "4", "memory": "8192", "scsi0": fmt.Sprintf("local-lvm:vm-%d-disk-0,size=64G", 10000+i)}})
	}
	d := desired(ts...)
	d.VMIDs.Templates = state.Range{First: 9000, Last: 9199}
	return d, inputs, specs
}

// BenchmarkPlanner is the pure planner alone: 200 templates, 10,000 guests.
func BenchmarkPlanner(b *testing.B) {
	d, inputs, specs := benchWorld(b)
	guests := make([]state.Guest, 0, len(specs))
	for _, s := range specs {
		g := state.Guest{VMID: s.VMID, Name: s.Name, Node: s.Node, Type: "qemu", Template: s.Template, Status: "stopped",
			Tags: state.NormalizeTags([]string{s.Tags}), MaxCPU: 2, MaxMem: 2048 << 20, MaxDisk: 20 << 30}
		guests = append(guests, g)
	}
	obs := state.Observed{Guests: guests, Inputs: inputs}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := Plan(d, obs, now)
		if p.Summary.Keep != 200 {
			b.Fatalf("summary %+v", p.Summary)
		}
	}
}

// BenchmarkObserveAndPlan is a whole plan over HTTPS against the simulator
// holding 10,000 guests: requests and bytes per plan are reported.
func BenchmarkObserveAndPlan(b *testing.B) {
	d, inputs, specs := benchWorld(b)
	seed := pvesim.DefaultSeed()
	seed.Guests = nil
	srv, err := pvesim.Start(pvesim.Options{Seed: seed})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	if err := srv.Cluster().AddGuests(specs); err != nil {
		b.Fatal(err)
	}
	cl, err := proxmox.New(proxmox.Config{URL: srv.URL(), TokenID: srv.TokenID(), TokenSecret: proxmox.Secret(srv.TokenSecret()),
		CAFile: srv.CAFile()}, proxmox.Options{})
	if err != nil {
		b.Fatal(err)
	}
	at := now // the stamps' clock: with the wall clock the patch schedule comes due
	b.ReportAllocs()
	b.ResetTimer()
	before := cl.Stats()
	for i := 0; i < b.N; i++ {
		obs, err := Observe(b.Context(), cl, d, inputs, nil, at)
		if err != nil {
			b.Fatal(err)
		}
		if p := Plan(d, obs, at); p.Summary.Keep != 200 {
			b.Fatalf("summary %+v", p.Summary)
		}
	}
	after := cl.Stats()
	b.ReportMetric(float64(after.Requests-before.Requests)/float64(b.N), "requests/plan")
	b.ReportMetric(float64(after.Bytes-before.Bytes)/float64(b.N), "bytes/plan")
}
