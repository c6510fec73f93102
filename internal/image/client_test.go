package image

import (
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// forwardProxy is a loopback HTTP forward proxy that records the absolute
// URLs it was asked for.
type forwardProxy struct {
	mu   sync.Mutex
	seen []string
}

func (p *forwardProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.seen = append(p.seen, r.URL.String())
	p.mu.Unlock()
	if !r.URL.IsAbs() {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, r.URL.String(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	resp, err := (&http.Transport{}).RoundTrip(out) // no proxy of its own
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

func TestGetGoesThroughTheConfiguredProxy(t *testing.T) {
	s := &sumsServer{body: readFixture(t, "rocky-9-multi-CHECKSUM"), etag: `"p"`}
	origin := serve(t, s)
	proxy := &forwardProxy{}
	proxySrv := serveMux(t, proxy)
	proxyURL, _ := url.Parse(proxySrv.URL)
	f := &Fetcher{Client: &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}, MinInterval: -1}
	target := origin.URL + "/pub/rocky/9/isos/x86_64/CHECKSUM"
	r, err := f.Resolve(t.Context(), target, "Rocky-9.*-x86_64-minimal.iso")
	if err != nil {
		t.Fatal(err)
	}
	if r.File != "Rocky-9.10-x86_64-minimal.iso" {
		t.Errorf("resolved %q", r.File)
	}
	if _, info, err := f.Get(t.Context(), target); err != nil || !info.NotModified {
		t.Errorf("conditional request through the proxy: %v %+v", err, info)
	}
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	if len(proxy.seen) != 2 || proxy.seen[0] != target || s.count() != 2 {
		t.Errorf("proxy saw %v, origin %d requests; want %s twice", proxy.seen, s.count(), target)
	}
}

func TestDefaultClientHonoursProxyEnvironmentAndRefusesDowngrade(t *testing.T) {
	c := DefaultClient()
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport %T", c.Transport)
	}
	if reflect.ValueOf(tr.Proxy).Pointer() != reflect.ValueOf(http.ProxyFromEnvironment).Pointer() {
		t.Error("the default transport does not use http.ProxyFromEnvironment")
	}
	if c.Timeout == 0 || tr.ResponseHeaderTimeout == 0 || tr.TLSHandshakeTimeout == 0 {
		t.Error("the default client has no timeouts")
	}
	req := func(u string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, u, nil)
		return r
	}
	via := []*http.Request{req("https://u:pw@mirror.example/SHA256SUMS")}
	if err := c.CheckRedirect(req("http://u:pw@mirror.example/SHA256SUMS"), via); err == nil ||
		!strings.Contains(err.Error(), "from https") || strings.Contains(err.Error(), "pw") {
		t.Errorf("https→http redirect: %v", err)
	}
	if err := c.CheckRedirect(req("https://other.example/SHA256SUMS"), via); err != nil {
		t.Errorf("https→https redirect: %v", err)
	}
	if err := c.CheckRedirect(req("https://x/"), []*http.Request{via[0], via[0], via[0], via[0], via[0], via[0], via[0], via[0], via[0], via[0]}); err == nil {
		t.Error("an 11th redirect was followed")
	}
}
