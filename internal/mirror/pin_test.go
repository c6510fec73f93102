package mirror

import (
	"strings"
	"testing"
)

func TestPinDesired(t *testing.T) {
	in := `images:
  # Windows: pinned
  - name: win2022-eval
    kind: iso
    url: https://software.example/SERVER_EVAL.iso
    checksum: sha256:3e4fa6d8507b554856fc9ca6079cc402df11a8b79344871669f0251535255325   # from the vendor
  - checksum: "sha256:bbbb"
    url: https://other.example/virtio.iso
  - name: noble
    url: https://cloud.example/{file}
    checksum_url: https://cloud.example/SHA256SUMS
  - name: unknown
    url: https://elsewhere.example/x.iso
    checksum: sha256:cccc
`
	out := string(PinDesired([]byte(in), map[string]string{
		"https://software.example/SERVER_EVAL.iso": "sha256:1111",
		"https://other.example/virtio.iso":         "sha256:2222",
	}))
	want := strings.NewReplacer(
		"sha256:3e4fa6d8507b554856fc9ca6079cc402df11a8b79344871669f0251535255325   # from", "sha256:1111   # from",
	).Replace(in)
	// The url after the checksum in one item: that item is not pinned by
	// line order, and stays as it was.
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
}
