package ancestry

import (
	"fmt"
	"testing"
	"time"

	"templated/internal/state"
)

// BenchmarkTrace: 200 templates among 10,000 guests, every other guest a
// clone carrying a template's stamp (half of those from an older build),
// the rest plain VMs with tags of their own: the work ancestry adds to
// each plan.
func BenchmarkTrace(b *testing.B) {
	d := &state.Desired{VMIDs: state.VMIDRanges{Templates: state.Range{First: 9000, Last: 9199},
		Staging: state.Range{First: 9900, Last: 9949}, Previous: state.Range{First: 9950, Last: 9999}}}
	var guests []state.Guest
	var cur, old []state.Stamp
	for i := range 200 {
		name := fmt.Sprintf("tpl-%03d", i)
		d.Templates = append(d.Templates, state.Template{Name: name, VMID: 9000 + i})
		c := stamp(name, "1.1.0", now.Add(-time.Duration(i+1)*time.Hour), false)
		o := stamp(name, "1.0.0", now.Add(-time.Duration(i+40*24)*time.Hour), false)
		cur, old = append(cur, c), append(old, o)
		guests = append(guests, guest(9000+i, name, "pve1", true, &c))
	}
	for i := 0; len(guests) < 10000; i++ {
		vmid, t := 10000+i, (i/4)%200
		switch i % 4 {
		case 0:
			guests = append(guests, guest(vmid, fmt.Sprintf("vm-%d", i), "pve1", false, &cur[t], "k8s"))
		case 1:
			guests = append(guests, guest(vmid, fmt.Sprintf("vm-%d", i), "pve2", false, &old[t]))
		default:
			guests = append(guests, guest(vmid, fmt.Sprintf("vm-%d", i), "pve3", false, nil, "k8s", "prod"))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		ls := Trace(d, guests, nil, now)
		if len(ls) != 200 || len(ls[0].Clones) == 0 || len(ls[0].Outdated) == 0 {
			b.Fatalf("lineage of %s: %d current, %d outdated", ls[0].Template, len(ls[0].Clones), len(ls[0].Outdated))
		}
	}
}
