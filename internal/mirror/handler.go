package mirror

import (
	"bytes"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"
)

// served is what a request gets: a snapshot of an entry.
type served struct {
	upstream string
	data     []byte
	etag     string
	mod      time.Time
	sums     bool
	fault    Fault
}

// lookup snapshots the entry at a local path, counting a GET.
func (s *Server) lookup(p string, get bool) (served, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byPath[p]
	if !ok {
		return served{}, false
	}
	if get {
		s.gets[e.upstream]++
	}
	sv := served{upstream: e.upstream, data: e.data, etag: e.etag, mod: e.mod, sums: e.sums}
	if !e.sums {
		sv.fault = s.faults[e.upstream]
	}
	return sv, true
}

// ServeHTTP answers GET and HEAD of /<host>/<path> as the vendor would,
// conditional requests included, unless a fault spoils the file.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w}
	fields := logrus.Fields{"method": r.Method, "path": r.URL.Path}
	defer func() {
		fields["status"], fields["bytes"] = rec.status, rec.n
		s.log.WithFields(fields).Debug("mirror request")
	}()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rec.Header().Set("Allow", "GET, HEAD")
		http.Error(rec, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	sv, ok := s.lookup(r.URL.Path, r.Method == http.MethodGet)
	if !ok {
		http.NotFound(rec, r)
		return
	}
	fields["upstream"] = sv.upstream
	if sv.fault != FaultNone {
		fields["fault"] = sv.fault.String()
	}
	h := rec.Header()
	h.Set("ETag", sv.etag)
	if sv.sums {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/octet-stream")
	}
	data := sv.data
	switch sv.fault {
	case FaultNotFound:
		h.Del("ETag")
		http.NotFound(rec, r)
		return
	case FaultCut:
		if r.Method == http.MethodGet {
			cut(rec, sv)
			return
		}
	case FaultCorrupt:
		data = bytes.Clone(data)
		data[len(data)-1] ^= 0xff // in the noise of every kind
	}
	http.ServeContent(rec, r, path.Base(r.URL.Path), sv.mod, bytes.NewReader(data))
}

// cut sends the full length, half the body, and hangs up.
func cut(w *recorder, sv served) {
	h := w.Header()
	h.Set("Content-Length", strconv.Itoa(len(sv.data)))
	h.Set("Last-Modified", sv.mod.UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(sv.data[:len(sv.data)/2])
	rc := http.NewResponseController(w.ResponseWriter)
	_ = rc.Flush()
	conn, _, err := rc.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server drops the connection
	}
	_ = conn.Close()
}

// recorder notes the status and the body bytes of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	n      int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.n += int64(n)
	return n, err
}
