package proxmox_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"templated/internal/proxmox"
	"templated/internal/proxmox/proxmoxtest"
	"templated/internal/pvesim"
)

// BenchmarkListGuests10k lists 10,000 guests through the adapter from the
// simulator and reports requests, response bytes and time per list.
func BenchmarkListGuests10k(b *testing.B) {
	for _, tls := range []bool{false, true} {
		name := "http"
		if tls {
			name = "https"
		}
		b.Run(name, func(b *testing.B) {
			h := proxmoxtest.NewSimHarness(b, proxmoxtest.SimOptions{TLS: tls})
			const n = 10000
			specs := make([]proxmoxtest.VM, 0, n)
			for i := range n {
				vm := proxmoxtest.VM{VMID: 100 + i, Name: fmt.Sprintf("vm-%05d", i), Tags: []string{"bench"}, Running: i%3 == 0}
				if i%50 == 0 {
					vm = proxmoxtest.VM{VMID: 100 + i, Name: fmt.Sprintf("tpl-%05d", i), Template: true, Tags: []string{"golden"}}
				}
				specs = append(specs, vm)
			}
			for _, vm := range specs {
				h.AddVM(b, vm)
			}
			ctx := b.Context()
			if gs, err := h.Client.ListGuests(ctx); err != nil || len(gs) != n {
				b.Fatalf("%d guests, %v", len(gs), err)
			}
			before := h.Client.Stats()
			b.ResetTimer()
			for b.Loop() {
				if _, err := h.Client.ListGuests(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			after := h.Client.Stats()
			b.ReportMetric(float64(after.Requests-before.Requests)/float64(b.N), "requests/op")
			b.ReportMetric(float64(after.Bytes-before.Bytes)/float64(b.N), "resp-bytes/op")
		})
	}
	// The simulator's share: the same request with net/http, body discarded.
	b.Run("raw-http-baseline", func(b *testing.B) {
		h := proxmoxtest.NewSimHarness(b, proxmoxtest.SimOptions{})
		for i := range 10000 {
			h.AddVM(b, proxmoxtest.VM{VMID: 100 + i, Name: fmt.Sprintf("vm-%05d", i), Tags: []string{"bench"}})
		}
		for b.Loop() {
			req, _ := http.NewRequestWithContext(b.Context(), "GET", h.Server.URL()+"/cluster/resources?type=vm", nil)
			req.Header.Set("Authorization", h.Server.AuthHeader())
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkFailFast measures how long a failing call takes to return:
// proxmox-api-go alone would retry these after sleeping 1+2+3 s.
func BenchmarkFailFast(b *testing.B) {
	cases := map[string]pvesim.Fault{
		"dropped-connection": {Method: "GET", Path: "/cluster/resources", Drop: true},
		"596-empty-body":     {Method: "GET", Path: "/cluster/resources", Status: 596, Message: "Connection timed out"},
		"401-bad-token":      {},
	}
	for name, f := range cases {
		b.Run(name, func(b *testing.B) {
			h := proxmoxtest.NewSimHarness(b, proxmoxtest.SimOptions{})
			c := h.Client
			if f.Path != "" {
				h.Server.Faults().MustAdd(f)
			} else {
				var err error
				c, err = proxmox.New(proxmox.Config{URL: h.Server.URL(), TokenID: h.Server.TokenID(), TokenSecret: "wrong"}, proxmox.Options{})
				if err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				if _, err := c.ListGuests(b.Context()); err == nil {
					b.Fatal("no error")
				}
			}
		})
	}
}
