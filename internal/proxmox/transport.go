package proxmox

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// callStats watches the HTTP exchanges of one Client call. The transport
// finds it in the request context, so concurrent calls never share one.
// It outlives the call if the library goroutine is abandoned (timeout), so
// every field is guarded.
type callStats struct {
	mu        sync.Mutex
	requests  int
	upid      string
	netErr    error
	fatal     chan struct{} // closed on the first transport failure
	fatalOnce sync.Once
	bytes     atomic.Int64
}

func newCallStats() *callStats { return &callStats{fatal: make(chan struct{})} }

type callStatsKey struct{}

func withCallStats(ctx context.Context, r *callStats) context.Context {
	return context.WithValue(ctx, callStatsKey{}, r)
}

func callStatsFrom(ctx context.Context) *callStats {
	r, _ := ctx.Value(callStatsKey{}).(*callStats)
	return r
}

// fail records the first failure that makes the call hopeless and
// releases the caller (see do).
func (r *callStats) fail(err error) {
	r.mu.Lock()
	if r.netErr == nil {
		r.netErr = err
	}
	r.mu.Unlock()
	r.fatalOnce.Do(func() { close(r.fatal) })
}

func (r *callStats) transportError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.netErr
}

func (r *callStats) lastUPID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.upid
}

// transport wraps the real one to
//   - count requests and response bytes (per call and per client),
//   - turn error answers with an empty body (PVE's 401, a proxy's 596) into
//     a JSON body carrying the reason phrase, so that proxmox-api-go returns
//     an *ApiError at once instead of retrying for 6 s,
//   - remember the UPID a write call got back, and
//   - report the first network failure so the call can fail fast while the
//     library sleeps before its retries.
type transport struct {
	base     http.RoundTripper
	requests atomic.Int64
	bytes    atomic.Int64
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := callStatsFrom(req.Context())
	t.requests.Add(1)
	resp, err := t.base.RoundTrip(req)
	if rec != nil {
		rec.mu.Lock()
		rec.requests++
		rec.mu.Unlock()
		if err != nil && req.Context().Err() == nil {
			rec.fail(err)
		}
	}
	if err != nil {
		return nil, err
	}
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if ct := resp.Header.Get("Content-Type"); ok && ct != "" && !strings.Contains(ct, "json") {
		// A login page or a proxy, not the API: fail now rather than let
		// the library retry a JSON decode error.
		resp.Body.Close()
		err := &notAPIError{contentType: ct}
		if rec != nil {
			rec.fail(err)
		}
		return nil, err
	}
	if !ok || req.Method != http.MethodGet {
		// Small bodies: read them whole (bounded) to inspect them.
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		t.count(rec, len(body))
		if !ok && !isJSONObject(body) {
			body = errorBody(resp.Status, body)
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Type", "application/json")
		}
		if ok && rec != nil {
			if upid := upidOf(body); upid != "" {
				rec.mu.Lock()
				rec.upid = upid
				rec.mu.Unlock()
			}
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, t: t, rec: rec}
	return resp, nil
}

func (t *transport) count(rec *callStats, n int) {
	t.bytes.Add(int64(n))
	if rec != nil {
		rec.bytes.Add(int64(n))
	}
}

func isJSONObject(b []byte) bool {
	var m map[string]any
	return json.Unmarshal(b, &m) == nil
}

// errorBody is what PVE ≥ 8.3 sends itself: the message as JSON. The
// message is the reason phrase, plus the first line of a short text body.
func errorBody(status string, text []byte) []byte {
	msg := strings.TrimSpace(status)
	if len(msg) > 3 {
		msg = strings.TrimSpace(msg[3:])
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(text)), "\n")
	if line != "" && len(line) < 200 && !strings.HasPrefix(line, "<") {
		msg += ": " + line
	}
	b, _ := json.Marshal(map[string]any{"data": nil, "message": msg})
	return b
}

func upidOf(body []byte) string {
	var env struct {
		Data any `json:"data"`
	}
	if json.Unmarshal(body, &env) != nil {
		return ""
	}
	s, _ := env.Data.(string)
	if strings.HasPrefix(s, "UPID:") {
		return s
	}
	return ""
}

type notAPIError struct{ contentType string }

func (e *notAPIError) Error() string {
	return "answer is " + e.contentType + ", not JSON"
}

type countingBody struct {
	io.ReadCloser
	t   *transport
	rec *callStats
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.t.count(b.rec, n)
	return n, err
}
