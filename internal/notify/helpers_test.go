package notify

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"templated/internal/state"
)

// Secret values the tests use; none may leave through a body (other than
// where the sink needs it), an error, a log line, a Delivery or a file.
const (
	hookKey     = "hmac-key-0123456789abcdef"
	slackPath   = "/services/T0SECRET/B0SECRET/xoxSECRETPATHvalue"
	ntfyToken   = "tk_ntfysecrettoken0123"
	gotifyToken = "AgotifySecretToken42"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// hit is one request a receiver got.
type hit struct {
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// receiver is a loopback HTTP server that records what it gets and
// answers with status (200 when it returns 0). It can go down (refusing
// connections) and come back on the same address.
type receiver struct {
	t      *testing.T
	addr   string
	mu     sync.Mutex
	hits   []hit
	status func(h hit) (int, http.Header, string)
	srv    *http.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(r.down)
	return r
}

func (r *receiver) serve(ln net.Listener) {
	r.srv = &http.Server{Handler: http.HandlerFunc(r.handle)}
	go r.srv.Serve(ln)
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	h := hit{Path: req.URL.Path, Query: req.URL.RawQuery, Header: req.Header.Clone(), Body: body}
	r.mu.Lock()
	r.hits = append(r.hits, h)
	answer := r.status
	r.mu.Unlock()
	code, hdr, text := 0, http.Header(nil), ""
	if answer != nil {
		code, hdr, text = answer(h)
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	if code == 0 {
		code = http.StatusOK
	}
	w.WriteHeader(code)
	io.WriteString(w, text)
}

// down closes the listener: connections are refused.
func (r *receiver) down() {
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

// up listens again on the same address.
func (r *receiver) up() {
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("listen again on %s: %v", r.addr, err)
	}
	r.serve(ln)
}

func (r *receiver) answer(f func(h hit) (int, http.Header, string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = f
}

func (r *receiver) got() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hit(nil), r.hits...)
}

func (r *receiver) url(path string) string { return "http://" + r.addr + path }

// recorder collects deliveries.
type recorder struct {
	mu sync.Mutex
	ds []Delivery
}

func (r *recorder) RecordDelivery(_ context.Context, d Delivery) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ds = append(r.ds, d)
	return nil
}

func (r *recorder) all() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.ds...)
}

// webhookOnly is a notifications section with one webhook sink to url
// taking every kind but build.succeeded.
func webhookOnly(url string) *state.Notifications {
	return &state.Notifications{
		Sinks:          []state.NotifySink{{Name: "hook", Type: state.SinkWebhook, URL: url, HMACSecret: "HOOK_KEY"}},
		Routes:         []state.NotifyRoute{{Sink: "hook"}},
		RepeatInterval: 4 * time.Hour, GiveUpAfter: 24 * time.Hour,
	}
}

func testSecrets(extra map[string]string) SecretMap {
	v := map[string]string{"HOOK_KEY": hookKey, "NTFY_TOKEN": ntfyToken, "GOTIFY_TOKEN": gotifyToken}
	for k, x := range extra {
		v[k] = x
	}
	return SecretMap{Values: v}
}

// harness is a Dispatcher on a settable clock with a recorder and a
// captured log.
type harness struct {
	t     *testing.T
	dir   string
	clock *clock
	rec   *recorder
	log   *logtest.Hook
	opts  Options
	d     *Dispatcher
}

func newHarness(t *testing.T, n *state.Notifications, secrets Secrets, tune func(*Options)) *harness {
	t.Helper()
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	h := &harness{t: t, dir: t.TempDir(), clock: newClock(), rec: &recorder{}, log: hook}
	h.opts = Options{Installation: "test-install", Recorder: h.rec, Log: logger, Now: h.clock.Now,
		Rand: func() float64 { return 1 }, Backoff: Backoff{Initial: 5 * time.Second, Max: time.Minute}}
	h.opts.Dir = h.dir
	if tune != nil {
		tune(&h.opts)
	}
	h.open(n, secrets)
	return h
}

// open makes a new Dispatcher over the harness's directory (a restart).
func (h *harness) open(n *state.Notifications, secrets Secrets) {
	h.t.Helper()
	d, err := New(n, secrets, h.opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.d = d
	h.t.Cleanup(func() { d.Close() })
}

func (h *harness) notify(e Event) {
	h.t.Helper()
	if err := h.d.Notify(context.Background(), e); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) flush() { h.d.Flush(context.Background()) }

// logText is every captured log line with its fields.
func (h *harness) logText() string {
	var b strings.Builder
	for _, e := range h.log.AllEntries() {
		s, _ := e.String()
		b.WriteString(s)
	}
	return b.String()
}

func failed(template, buildID string) Event {
	return Event{Kind: state.NotifyBuildFailed, Template: template, BuildID: buildID, Release: "1.0.0", Reason: "build-failed",
		Message: "packer exited with status 1"}
}

func succeeded(template, buildID string) Event {
	return Event{Kind: state.NotifyBuildSucceeded, Template: template, BuildID: buildID, Release: "1.0.0", Reason: "build-succeeded",
		Message: template + " 1.0.0 built and swapped in"}
}
