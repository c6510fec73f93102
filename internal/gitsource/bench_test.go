package gitsource

import (
	"fmt"
	"testing"
)

// BenchmarkIdleFetch measures what following an unchanged remote costs:
// one Sync over HTTP (basic auth) through a counting reverse proxy, per
// op, reporting requests and bytes (both directions) besides ns/op.
func BenchmarkIdleFetch(b *testing.B) {
	root := b.TempDir()
	up := newUpstream(b, root)
	for i := range 20 {
		up.write(fmt.Sprintf("packer/file%02d.pkr.hcl", i), fmt.Sprintf("# file %d\n", i), 0o644)
	}
	up.commitAndPush("a: 1\n")
	srv := serveGit(b, root, "git", "bench-password-123")
	front := newFront(b, srv.HTTPAddress())
	h := newHarness(b, front.url()+"/org/repo.git", func(c *Config) { c.Auth.Password = "bench-password-123" })
	h.mustSync(b)

	front.requests.Store(0)
	front.bytes.Store(0)
	n := 0
	for b.Loop() {
		n++
		res, err := h.Sync(b.Context())
		if err != nil || res.Changed || !res.Fetched {
			b.Fatalf("idle sync: %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(front.requests.Load())/float64(n), "requests/op")
	b.ReportMetric(float64(front.bytes.Load())/float64(n), "bytes/op")
}
