package session

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"templated/internal/proxmox"
	"templated/internal/pvesim"
	"templated/internal/state"
	"templated/internal/workspace"
)

// vendorSite serves n checksum files over HTTPS (one per image, as vendors
// keep one per release directory), answering If-None-Match with 304, and
// counts the requests.
type vendorSite struct {
	srv      *httptest.Server
	requests atomic.Int64
}

func newVendorSite(b *testing.B, n int) *vendorSite {
	v := &vendorSite{}
	v.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.requests.Add(1)
		var i int
		if _, err := fmt.Sscanf(r.URL.Path, "/d%d/SHA256SUMS", &i); err != nil || i >= n {
			http.NotFound(w, r)
			return
		}
		etag := fmt.Sprintf(`"sums-%d"`, i)
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprintf(w, "%064x *img%d.qcow2\n%064x *img%d-older.qcow2\n", i+1, i, i+1000, i)
	}))
	b.Cleanup(v.srv.Close)
	return v
}

// BenchmarkPlanFiftyImages: a plan of the default fleet, unchanged and
// built from its images, with 50 images declared, against the simulator
// over HTTP. Reported per plan: Proxmox requests, HTTPS requests to the
// vendors, and the wall time (ns/op).
//   - cold: nothing cached, every checksum file fetched;
//   - revalidate: cached, the interval over: one conditional request each
//     (304);
//   - cached: within the interval: no request to a vendor.
func BenchmarkPlanFiftyImages(b *testing.B) {
	const n = 50
	site := newVendorSite(b, n)
	sim, err := pvesim.Start(pvesim.Options{NoTLS: true, TaskDuration: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sim.Close() })
	d, err := workspace.LoadDesired(repoDesired)
	if err != nil {
		b.Fatal(err)
	}
	withoutImages(d)
	for i := range n {
		dir := fmt.Sprintf("%s/d%d/", site.srv.URL, i)
		d.Images = append(d.Images, state.Image{Name: fmt.Sprintf("img%d", i), Kind: state.ImageCloud, URL: dir + "{file}",
			ChecksumURL: dir + "SHA256SUMS", File: fmt.Sprintf("img%d.qcow2", i), Format: "qcow2", Storage: "local", Nodes: []string{"pve1"}})
	}
	for i := range d.Templates {
		d.Templates[i].Image = fmt.Sprintf("img%d", i)
		if d.Templates[i].Build == state.BuildISO {
			d.Templates[i].Image = "" // the fleet's ISO template keeps its var file's
		}
	}
	// The fleet as templated left it: every template built from its
	// image's current digest, from the current inputs.
	inputs, err := Inputs(d, filepath.Join("..", "..", "packer"), workspace.Toolchain{Packer: "1.11.2", Plugin: "1.1.1"})
	if err != nil {
		b.Fatal(err)
	}
	for i, t := range d.Templates {
		s := state.Stamp{Template: t.Name, Release: t.Release.String(), InputsHash: strings.TrimPrefix(inputs[t.Name], "sha256:"),
			BuiltAt: time.Now().Add(-time.Hour).UTC().Truncate(time.Second), BuildID: "seed", Role: state.RoleTemplate, Plugin: "1.1.1"}
		if t.Image != "" {
			s.Images = []string{fmt.Sprintf("sha256:%064x", i+1)}
		}
		if err := sim.Cluster().AddGuest(pvesim.GuestSpec{VMID: t.VMID, Node: "pve1", Name: t.Name, Template: true,
			Tags: strings.Join(s.Tags(), ";"), Description: s.Description(),
			Config: map[string]string{"cores": fmt.Sprint(t.Cores), "sockets": "1", "memory": fmt.Sprint(t.MemoryMiB),
				"scsi0": fmt.Sprintf("local-lvm:base-%d-disk-0,size=%dG", t.VMID, t.DiskGB)}}); err != nil {
			b.Fatal(err)
		}
	}
	cl, err := proxmox.New(proxmox.Config{URL: sim.URL(), TokenID: sim.TokenID(), TokenSecret: proxmox.Secret(sim.TokenSecret())}, proxmox.Options{})
	if err != nil {
		b.Fatal(err)
	}
	open := func(b *testing.B, stateDir string, interval time.Duration) *Session {
		sess, err := OpenReader(Settings{DesiredPath: repoDesired, StateDir: stateDir, Cluster: cl, Tools: &fakeTools{},
			ImageMirrors: nil, ImageInterval: interval, ImageClient: site.srv.Client(), Getenv: func(string) string { return "" }})
		if err != nil {
			b.Fatal(err)
		}
		return sess
	}
	plan := func(b *testing.B, sess *Session) {
		p, err := sess.Plan(context.Background(), d)
		if err != nil {
			b.Fatal(err)
		}
		if p.HasChanges() || len(p.Images) != n {
			b.Fatalf("plan over the unchanged fleet: %+v, %d images", p.Summary, len(p.Images))
		}
	}
	run := func(b *testing.B, setup func(b *testing.B) *Session) {
		var pve, https int64
		for b.Loop() {
			b.StopTimer()
			sess := setup(b)
			r0, h0 := cl.Stats().Requests, site.requests.Load()
			b.StartTimer()
			plan(b, sess)
			pve += int64(cl.Stats().Requests - r0)
			https += site.requests.Load() - h0
		}
		b.ReportMetric(float64(pve)/float64(b.N), "pve-req/op")
		b.ReportMetric(float64(https)/float64(b.N), "https-req/op")
	}
	b.Run("cold", func(b *testing.B) {
		run(b, func(b *testing.B) *Session { return open(b, b.TempDir(), time.Hour) })
	})
	b.Run("revalidate", func(b *testing.B) {
		sess := open(b, b.TempDir(), -1)
		plan(b, sess)
		run(b, func(*testing.B) *Session { return sess })
	})
	b.Run("cached", func(b *testing.B) {
		sess := open(b, b.TempDir(), time.Hour)
		plan(b, sess)
		run(b, func(*testing.B) *Session { return sess })
	})
}
