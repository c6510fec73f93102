package mirror

import (
	"strings"
	"testing"
)

func TestParseMirrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Mapping
		err      string // a substring of the error; "" for none
	}{
		{"empty", "", nil, ""},
		{"blank", "  ", nil, ""},
		{"one", "https://cloud-images.ubuntu.com/=http://127.0.0.1:40123/cloud-images.ubuntu.com/",
			[]Mapping{{"https://cloud-images.ubuntu.com/", "http://127.0.0.1:40123/cloud-images.ubuntu.com/"}}, ""},
		{"two with spaces and case", " HTTPS://Dl.RockyLinux.org/pub/ = http://m/rocky/ , https://a/=https://b/x/",
			[]Mapping{{"https://dl.rockylinux.org/pub/", "http://m/rocky/"}, {"https://a/", "https://b/x/"}}, ""},
		{"path keeps case", "https://a/Pub/=http://m/X/", []Mapping{{"https://a/Pub/", "http://m/X/"}}, ""},
		{"no equals", "https://a/", nil, "pair 1: no \"=\""},
		{"empty pair", "https://a/=http://m/,,https://b/=http://m/", nil, "pair 2: empty"},
		{"trailing comma", "https://a/=http://m/,", nil, "pair 2: empty"},
		{"empty from", "=http://m/", nil, "pair 1: FROM: empty"},
		{"empty to", "https://a/=", nil, "pair 1: TO: empty"},
		{"no slash", "https://a/=http://m/,https://b=http://m/b/", nil, `pair 2: FROM: "https://b": must end in "/"`},
		{"to no slash", "https://a/=http://m/x", nil, `pair 1: TO: "http://m/x": must end in "/"`},
		{"ftp", "ftp://a/=http://m/", nil, "pair 1: FROM: \"ftp://a/\": want http:// or https://"},
		{"relative", "https://a/=/local/", nil, "pair 1: TO: \"/local/\": want http:// or https://"},
		{"no host", "https:///x/=http://m/", nil, "pair 1: FROM: \"https:///x/\": no host"},
		{"query", "https://a/=http://m/?k=v/", nil, "pair 1: TO: \"http://m/?k=v/\": want no query or fragment"},
		{"credentials", "https://a/=http://user:secret@m/", nil, "pair 1: TO: must not hold a user or password"},
		{"duplicate", "https://a/=http://m/1/,https://A/=http://m/2/", nil, "pair 2: FROM https://a/ is already mapped by pair 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMirrors(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error repeats a password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("pair %d: %v, want %v", i+1, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestRewrite(t *testing.T) {
	ms, err := ParseMirrors("https://cloud-images.ubuntu.com/=http://m/ubuntu/," +
		"https://cloud-images.ubuntu.com/releases/noble/=http://m/noble/," +
		"https://dl.rockylinux.org/=http://m/rocky/")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{"https://cloud-images.ubuntu.com/releases/jammy/release/SHA256SUMS", "http://m/ubuntu/releases/jammy/release/SHA256SUMS"},
		{"https://cloud-images.ubuntu.com/releases/noble/release/noble-server-cloudimg-amd64.img", "http://m/noble/release/noble-server-cloudimg-amd64.img"},
		{"HTTPS://Cloud-Images.Ubuntu.com/releases/Jammy/x.img", "http://m/ubuntu/releases/Jammy/x.img"},
		{"https://dl.rockylinux.org/pub/rocky/9/CHECKSUM?x=1", "http://m/rocky/pub/rocky/9/CHECKSUM?x=1"},
		{"https://dl.rockylinux.org.evil/pub/x", "https://dl.rockylinux.org.evil/pub/x"},
		{"http://cloud-images.ubuntu.com/releases/x", "http://cloud-images.ubuntu.com/releases/x"},
		{"https://fedorapeople.org/x.iso", "https://fedorapeople.org/x.iso"},
		{"https://cloud-images.ubuntu.com/", "http://m/ubuntu/"},
	} {
		if got := Rewrite(ms, tc.in); got != tc.want {
			t.Errorf("Rewrite(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := Rewrite(nil, "https://a/x"); got != "https://a/x" {
		t.Errorf("no mappings: %q", got)
	}
}
