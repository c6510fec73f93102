package pvesim

import (
	"net/http"
	"net/url"
	"strings"
)

// route is an entry of the routes table: the handler of one method and
// path pattern.
type route struct {
	method  string
	h       handlerFunc
	check   *permCheck // nil: no check before the handler
	proxied bool       // pveproxy forwards it to {node} (proxyto => 'node')
}

// ServeHTTP hands the route the mux picked to resolve.
func (rt *route) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	if rw, ok := w.(*routing); ok {
		rw.route = rt
	}
}

// routing is the ResponseWriter resolve gives the mux: it receives the
// route, and the mux's own answers (404, 405 with Allow, redirects) go
// nowhere, since PVE answers all of them 501.
type routing struct {
	header http.Header
	route  *route
}

func (w *routing) Header() http.Header         { return w.header }
func (w *routing) Write(b []byte) (int, error) { return len(b), nil }
func (w *routing) WriteHeader(int)             {}

// resolve finds the handler of a request to rel, the path below
// /api2/json, and returns the request as the mux matched it, whose
// PathValue gives the path variables. A method or path with no route gets
// PVE's 501 "Method 'GET /x' not implemented" (rel decoded); the variables
// of a known path still come back then, for fault matching by VMID.
func (s *Server) resolve(method, rel string) (*route, *http.Request, error) {
	notImpl := fail(http.StatusNotImplemented, "Method '%s %s' not implemented", method, rel)
	u, ok := routingURL(rel)
	if !ok {
		return nil, &http.Request{}, notImpl
	}
	m, w := s.match(method, u)
	switch {
	case w.route != nil && w.route.method == method:
		return w.route, m, nil
	case w.route != nil: // a GET route, for HEAD
		return nil, m, notImpl
	}
	if allow := w.header.Get("Allow"); allow != "" { // a known path
		for _, other := range strings.Split(allow, ", ") {
			if om, ow := s.match(other, u); ow.route != nil {
				return nil, om, notImpl
			}
		}
	}
	return nil, m, notImpl
}

// match runs the mux on a request for method and u.
func (s *Server) match(method string, u *url.URL) (*http.Request, *routing) {
	m := &http.Request{Method: method, URL: u}
	w := &routing{header: http.Header{}}
	s.mux.ServeHTTP(w, m)
	return m, w
}

// routingURL is rel as the routes match it: split into decoded segments
// after trimming slashes at either end, so a trailing slash is ignored and
// an encoded slash ("local%3Aiso%2Fx.iso") separates segments like a plain
// one. Each segment is escaped again, dots included, so that the mux finds
// no "." or ".." to clean away and redirect for; it unescapes the segments
// it matches. A path with an empty segment ("//"), which the mux would
// clean and redirect, matches no route.
func routingURL(rel string) (*url.URL, bool) {
	segs := strings.Split(strings.Trim(rel, "/"), "/")
	esc := make([]string, len(segs))
	for i, seg := range segs {
		if seg == "" && len(segs) > 1 {
			return nil, false
		}
		esc[i] = strings.ReplaceAll(url.PathEscape(seg), ".", "%2E")
	}
	return &url.URL{Path: "/" + strings.Join(segs, "/"), RawPath: "/" + strings.Join(esc, "/")}, true
}
