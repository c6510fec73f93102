package pvesim

import (
	"net/url"
	"sort"
	"sync"
	"time"
)

// Request is one request the simulator received. The Authorization header
// is never kept; values of secret-bearing parameters are redacted.
type Request struct {
	Seq      int64
	Time     time.Time
	Method   string
	Path     string     // below /api2/json, e.g. "/cluster/resources"
	Query    url.Values // (redacted)
	Form     url.Values // POST/PUT parameters (redacted)
	FormKeys []string   // sorted
	TokenID  string     // authenticated token id ("" if auth failed)
	Status   int        // HTTP status sent (0 for a dropped connection)
}

// maxRequests bounds the request log; older entries are dropped.
const maxRequests = 100000

type requestLog struct {
	mu    sync.Mutex
	seq   int64
	items []Request
}

var redactedKeys = map[string]bool{"cipassword": true, "password": true}

func (l *requestLog) add(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	r.Seq = l.seq
	for k := range r.Form {
		r.FormKeys = append(r.FormKeys, k)
		if redactedKeys[k] {
			r.Form[k] = []string{"**********"}
		}
	}
	sort.Strings(r.FormKeys)
	for k := range r.Query {
		if redactedKeys[k] {
			r.Query[k] = []string{"**********"}
		}
	}
	if len(l.items) >= maxRequests {
		l.items = append(l.items[:0], l.items[len(l.items)/2:]...)
	}
	l.items = append(l.items, r)
}

// Requests returns the recorded requests, oldest first.
func (s *Server) Requests() []Request {
	s.reqs.mu.Lock()
	defer s.reqs.mu.Unlock()
	return append([]Request(nil), s.reqs.items...)
}

// ResetRequests forgets the recorded requests (the counter keeps going).
func (s *Server) ResetRequests() {
	s.reqs.mu.Lock()
	defer s.reqs.mu.Unlock()
	s.reqs.items = nil
}
