package gitsource

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWebhookOverHTTP: through a real loopback server, a valid delivery
// kicks and a chunked body over the limit (no Content-Length) gets 413.
func TestWebhookOverHTTP(t *testing.T) {
	rig := newHookRig(t, nil)
	srv := httptest.NewServer(rig.h)
	defer srv.Close()
	post := func(body io.Reader, hdr map[string]string) int {
		req, err := http.NewRequestWithContext(t.Context(), "POST", srv.URL, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	hdr := hookDeliveries(rig.now, hookPushBody)["github"]
	if code := post(strings.NewReader(hookPushBody), hdr); code != 202 || rig.kicks.Load() != 1 {
		t.Fatalf("valid: %d, %d kicks", code, rig.kicks.Load())
	}
	big := io.MultiReader(strings.NewReader(hookPushBody), bytes.NewReader(make([]byte, webhookMaxBody)))
	if code := post(io.NopCloser(big), hdr); code != 413 || rig.kicks.Load() != 1 {
		t.Fatalf("oversize: %d, %d kicks", code, rig.kicks.Load())
	}
}

// BenchmarkWebhookGitHub is one valid GitHub push delivery of a typical
// size (20 commits, about 4 KiB) through the handler.
func BenchmarkWebhookGitHub(b *testing.B) {
	rig := newHookRig(b, nil)
	var commits []string
	for i := range 20 {
		commits = append(commits, fmt.Sprintf(`{"id":"%040d","message":"change %d","added":[],"removed":[],"modified":["desired/vm-%d.hcl"],"author":{"name":"Alice","email":"alice@example.com"}}`, i, i, i))
	}
	body := `{"ref":"refs/heads/main","before":"28e1879d","after":"bffeb742","repository":{"full_name":"ops/templates"},"commits":[` + strings.Join(commits, ",") + `]}`
	hdr := hookDeliveries(rig.now, body)["github"]
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		w := rig.send("POST", hdr, []byte(body))
		if w.Code != http.StatusAccepted {
			b.Fatalf("%d %q", w.Code, w.Body)
		}
		rig.logs.Reset()
	}
	b.ReportMetric(float64(len(body)), "body-bytes")
}
