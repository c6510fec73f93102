package mirror

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkServe256KiB: one GET of a 256 KiB image over loopback, with a
// kept-alive connection.
func BenchmarkServe256KiB(b *testing.B) {
	s := startMirror(b, Options{})
	u := s.MirrorURL(nobleImg)
	tr := &http.Transport{}
	b.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr}
	b.SetBytes(262144)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != 262144 {
			b.Fatalf("%d bytes, %v", n, err)
		}
	}
}
