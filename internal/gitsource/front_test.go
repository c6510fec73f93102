package gitsource

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
)

// front is a counting reverse proxy on a fixed loopback address in front
// of a git server; stop and start make the remote go away and come back
// at the same URL.
type front struct {
	t        testing.TB
	addr     string
	proxy    *httputil.ReverseProxy
	srv      *http.Server
	requests atomic.Int64
	bytes    atomic.Int64 // request and response bytes, headers included
}

func newFront(t testing.TB, target string) *front {
	t.Helper()
	u, err := url.Parse(target)
	must(t, err)
	f := &front{t: t, addr: "127.0.0.1:0", proxy: httputil.NewSingleHostReverseProxy(u)}
	f.start()
	t.Cleanup(f.stop)
	return f
}

func (f *front) url() string { return "http://" + f.addr }

func (f *front) start() {
	f.t.Helper()
	ln, err := net.Listen("tcp", f.addr)
	must(f.t, err)
	f.addr = ln.Addr().String()
	f.srv = &http.Server{Handler: f}
	go func() {
		if err := f.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			f.t.Errorf("front: %v", err)
		}
	}()
}

func (f *front) stop() {
	if f.srv != nil {
		f.srv.Close()
	}
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if head, err := httputil.DumpRequest(r, false); err == nil {
		f.bytes.Add(int64(len(head)))
	}
	r.Body = &countingBody{ReadCloser: r.Body, n: &f.bytes}
	f.proxy.ServeHTTP(&countingWriter{ResponseWriter: w, n: &f.bytes}, r)
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countingWriter) WriteHeader(code int) {
	for k, vs := range w.Header() {
		for _, v := range vs {
			w.n.Add(int64(len(k) + len(v) + 4))
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

func (w *countingWriter) Flush() {
	if fl, ok := w.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}
