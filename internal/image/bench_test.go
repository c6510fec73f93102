package image

import (
	"fmt"
	"strings"
	"testing"
)

// sums builds a SHA256SUMS of n lines shaped like Ubuntu's.
func sums(n int) []byte {
	var b strings.Builder
	for i := range n {
		name := fmt.Sprintf("noble-server-cloudimg-%d-amd64.img", i)
		fmt.Fprintf(&b, "%s *%s\n", fixtureHex(SHA256, name), name)
	}
	return []byte(b.String())
}

func BenchmarkParseChecksumFile5000(b *testing.B) {
	data := sums(5000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		es, err := ParseChecksumFile(data)
		if err != nil || len(es) != 5000 {
			b.Fatal(len(es), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/5000, "ns/line")
}

// BenchmarkResolve50FromCache resolves 50 images in one op, the way a plan
// reads its images, against a checksum file already fetched.
func BenchmarkResolve50FromCache(b *testing.B) {
	s := &sumsServer{body: sums(50), etag: `"b"`}
	srv := serve(b, s)
	f := &Fetcher{Client: srv.Client(), CacheDir: b.TempDir()}
	url := srv.URL + "/SHA256SUMS"
	names := make([]string, 50)
	for i := range names {
		names[i] = fmt.Sprintf("noble-server-cloudimg-%d-amd64.img", i)
	}
	if _, _, err := f.Get(b.Context(), url); err != nil {
		b.Fatal(err)
	}
	before := f.Stats().Requests
	b.ReportAllocs()
	for b.Loop() {
		for _, n := range names {
			if _, err := f.Resolve(b.Context(), url, n); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(f.Stats().Requests-before)/float64(b.N), "requests/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/50, "ns/image")
}
