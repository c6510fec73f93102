package pvesim

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"
)

// manyGuests returns n plain stopped VMs from VMID 10000 on.
func manyGuests(n int) []GuestSpec {
	specs := make([]GuestSpec, n)
	for i := range specs {
		id := 10000 + i
		specs[i] = GuestSpec{VMID: id, Name: fmt.Sprintf("vm-%d", id), Tags: "bulk", Config: map[string]string{
			"cores": "2", "memory": "2048", "scsi0": fmt.Sprintf("local-lvm:vm-%d-disk-0,size=32G", id),
			"net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0", "boot": "order=scsi0"}}
	}
	return specs
}

func TestTenThousandGuests(t *testing.T) {
	srv := startSim(t, Options{NoTLS: true})
	if err := srv.Cluster().AddGuests(manyGuests(10000)); err != nil {
		t.Fatal(err)
	}
	guests, err := pxapi.ListGuests(testCtx(t), pxClient(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(guests.Get()); n != 10008 {
		t.Fatalf("library listed %d guests, want 10008", n)
	}
	hc := httpClient(t, srv)
	if id := mustOK(t, srv, hc, "GET", "/cluster/nextid", nil); id != "103" {
		t.Fatalf("nextid %v", id)
	}
}

// TestConcurrentClients runs clones, config edits, reads, template
// conversions and deletes from many goroutines (meant for -race) and checks
// that every listing is consistent with itself.
func TestConcurrentClients(t *testing.T) {
	srv := startSim(t, Options{NoTLS: true})
	hc := httpClient(t, srv)
	const workers = 8
	var wg sync.WaitGroup
	var failures atomic.Int32
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				id := 20000 + w*100 + i
				upid := mustOK(t, srv, hc, "POST", "/nodes/pve1/qemu/8000/clone",
					url.Values{"newid": {strconv.Itoa(id)}, "full": {"1"}, "name": {fmt.Sprintf("c-%d", id)}}).(string)
				mustOK(t, srv, hc, "GET", "/cluster/resources", url.Values{"type": {"vm"}})
				if exit, _ := waitTask(t, srv, hc, upid); exit != "OK" {
					failures.Add(1)
					continue
				}
				mustOK(t, srv, hc, "PUT", fmt.Sprintf("/nodes/pve1/qemu/%d/config", id), url.Values{"tags": {"b;A"}, "description": {"x"}})
				mustOK(t, srv, hc, "GET", fmt.Sprintf("/nodes/pve1/qemu/%d/config", id), nil)
				if exit, _ := waitTask(t, srv, hc, mustOK(t, srv, hc, "POST", fmt.Sprintf("/nodes/pve1/qemu/%d/template", id), nil).(string)); exit != "OK" {
					failures.Add(1)
				}
				if i%2 == 0 {
					if exit, _ := waitTask(t, srv, hc, mustOK(t, srv, hc, "DELETE", fmt.Sprintf("/nodes/pve1/qemu/%d", id), nil).(string)); exit != "OK" {
						failures.Add(1)
					}
				}
			}
		}(w)
	}
	// A reader lists guests and reads the request log while the workers
	// write: under -race this checks that the state is safely shared.
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = srv.Cluster().Guests()
			_ = srv.Requests()
			mustOK(t, srv, hc, "GET", "/nodes/pve1/qemu", nil)
		}
	}()
	wg.Wait()
	close(stop)
	<-readerDone
	if failures.Load() != 0 {
		t.Fatalf("%d task failures", failures.Load())
	}
	var templates int
	for _, g := range srv.Cluster().Guests() {
		if g.VMID >= 20000 {
			if !g.Template || g.Tags != "a;b" || g.Lock != "" {
				t.Fatalf("guest %+v", g)
			}
			templates++
		}
	}
	if templates != workers*2 {
		t.Fatalf("%d templates left, want %d", templates, workers*2)
	}
}

// BenchmarkConfigReads measures config reads per second with 8 concurrent
// clients over loopback (plain HTTP, keep-alive).
func BenchmarkConfigReads(b *testing.B) {
	srv := startSim(b, Options{NoTLS: true})
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	u := srv.URL() + "/nodes/pve1/qemu/100/config"
	auth := srv.AuthHeader()
	b.SetParallelism(1)
	b.ResetTimer()
	var n atomic.Int64
	var wg sync.WaitGroup
	per := b.N/8 + 1
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				req, _ := http.NewRequest("GET", u, nil)
				req.Header.Set("Authorization", auth)
				resp, err := hc.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "reads/s")
}

// BenchmarkClusterResources10k measures GET /cluster/resources?type=vm with
// 10,000 guests.
func BenchmarkClusterResources10k(b *testing.B) {
	srv := startSim(b, Options{NoTLS: true})
	if err := srv.Cluster().AddGuests(manyGuests(10000 - 8)); err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{}}
	u := srv.URL() + "/cluster/resources?type=vm"
	var bytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", srv.AuthHeader())
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		bytes = n
	}
	b.ReportMetric(float64(bytes), "bytes/list")
	b.SetBytes(bytes)
}
