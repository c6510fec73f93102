package pvesim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// heapPeak samples the live heap until stop is called and returns the
// peak it saw.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak.Load()
	}
}

// BenchmarkDownloadURL64MiB downloads a 64 MiB ISO with a sha256 through
// the simulator's download-url task (loopback HTTP server, data dir on
// disk) and reports throughput (MB/s), allocations and the peak heap
// above the baseline, which must stay far below the file's size.
func BenchmarkDownloadURL64MiB(b *testing.B) {
	const size = 64 << 20
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	h := sha256.New()
	for range size / len(chunk) {
		h.Write(chunk)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		for range size / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	b.Cleanup(ts.Close)
	srv := startSim(b, Options{DataDir: b.TempDir()})
	hc := httpClient(b, srv)
	runtime.GC()
	base := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(base)
	stop := heapPeak()
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("b%d.iso", i)
		exit, _ := downloadTask(b, srv, hc, url.Values{"content": {"iso"}, "filename": {name}, "url": {ts.URL + "/x.iso"},
			"checksum": {sum}, "checksum-algorithm": {"sha256"}})
		if exit != "OK" {
			b.Fatalf("download: %q", exit)
		}
		b.StopTimer()
		if p, ok := srv.Cluster().DataPath("local:iso/" + name); !ok || os.Remove(p) != nil {
			b.Fatalf("no data file for %s", name)
		}
		b.StartTimer()
	}
	b.StopTimer()
	growth := float64(stop()) - float64(base[0].Value.Uint64())
	b.ReportMetric(max(growth, 0)/(1<<20), "peak-heap-MiB")
	if growth > size/4 {
		b.Errorf("heap grew by %.1f MiB during a %d MiB download: the file is held in memory", growth/(1<<20), size>>20)
	}
}
