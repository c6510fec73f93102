package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"templated/internal/pvesim"
)

// BenchmarkApplyReplicas rebuilds tpl-ubuntu-22.04 kept on three
// local-storage nodes (the template on pve1, replicas on pve2 and pve3),
// and the same template without replicas, on simulators whose tasks end
// at their first poll, and reports the wall time and the Proxmox API
// requests of each rebuild, and what the two replicas add:
//
//	go test -run '^$' -bench ApplyReplicas -benchtime 3x ./cmd/templated/
func BenchmarkApplyReplicas(b *testing.B) {
	fast := pvesim.Options{TaskDuration: -1}
	with := replicaWorld(b, fast)
	alone := newE2E(b, true, pvesim.Options{Seed: pvesim.ThreeNodeSeed(), TaskDuration: -1})
	alone.keepTemplates(nil, replicated)
	alone.initLedger()
	for _, e := range []*e2e{with, alone} {
		e.apply(0) // the first build; iterations rebuild
	}
	var wallWith, wallAlone, pkWith time.Duration
	var reqWith, reqAlone, migrations int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, e := range []*e2e{with, alone} {
			e.bumpRelease(fmt.Sprintf("2.0.%d", i))
			e.sim.ResetRequests()
			start := time.Now()
			r := e.apply(0)
			wall, reqs := time.Since(start), e.sim.Requests()
			if e == alone {
				wallAlone, reqAlone = wallAlone+wall, reqAlone+len(reqs)
				continue
			}
			wallWith, reqWith = wallWith+wall, reqWith+len(reqs)
			pkWith += sum(durations(b, packerFinished, r.stderr))
			for _, q := range reqs {
				if q.Method == "POST" && strings.HasSuffix(q.Path, "/migrate") {
					migrations++
				}
			}
		}
	}
	b.StopTimer()
	with.identical()
	n := float64(b.N)
	b.ReportMetric(wallWith.Seconds()/n, "apply-3-copies-s")
	b.ReportMetric(wallAlone.Seconds()/n, "apply-1-copy-s")
	b.ReportMetric((wallWith-wallAlone).Seconds()/n/2, "s/replica")
	b.ReportMetric(pkWith.Seconds()/n, "packer-s")
	b.ReportMetric(float64(reqWith)/n, "requests-3-copies")
	b.ReportMetric(float64(reqAlone)/n, "requests-1-copy")
	b.ReportMetric(float64(migrations)/n, "migrations")
}
