package pvesim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"
)

// startSim starts a simulator over HTTPS with fast tasks and closes it at
// the end of the test.
func startSim(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.TaskDuration == 0 {
		opts.TaskDuration = -1 // end right after the first poll
	}
	srv, err := Start(opts)
	if err != nil {
		t.Fatalf("start simulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close simulator: %v", err)
		}
	})
	return srv
}

// httpClient trusts the simulator's CA (or is plain with NoTLS).
func httpClient(t testing.TB, srv *Server) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	if pem := srv.CACertPEM(); pem != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatal("bad CA PEM")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// response is a decoded answer.
type response struct {
	Status int
	Reason string // full status line text after the code
	Body   []byte
	JSON   map[string]any
}

func (r response) data() any { return r.JSON["data"] }

// call does one request with the default token. For POST/PUT, params go
// in a form body; otherwise in the query.
func call(t testing.TB, srv *Server, hc *http.Client, method, path string, params url.Values) response {
	t.Helper()
	return callAuth(t, srv, hc, method, path, params, srv.AuthHeader())
}

func callAuth(t testing.TB, srv *Server, hc *http.Client, method, path string, params url.Values, auth string) response {
	t.Helper()
	u := srv.URL() + path
	var body io.Reader
	if method == http.MethodPost || method == http.MethodPut {
		body = strings.NewReader(params.Encode())
	} else if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := response{Status: resp.StatusCode, Reason: strings.TrimSpace(strings.TrimPrefix(resp.Status, resp.Status[:3])), Body: b}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &r.JSON); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, b)
		}
	}
	return r
}

// wantAnswer is a request (without parameters) and the answer it must get:
// the status and, for an error, PVE's message as the reason phrase and,
// except for HEAD, in the JSON body.
type wantAnswer struct {
	method, path string
	status       int
	msg          string
}

// check does the request and reports a different answer.
func (w wantAnswer) check(t testing.TB, srv *Server, hc *http.Client) {
	t.Helper()
	r := call(t, srv, hc, w.method, w.path, nil)
	if r.Status != w.status {
		t.Errorf("%s %s: status %d %q, want %d (%s)", w.method, w.path, r.Status, r.Reason, w.status, r.Body)
		return
	}
	if w.status == 200 {
		return
	}
	if r.Reason != w.msg {
		t.Errorf("%s %s: reason %q, want %q", w.method, w.path, r.Reason, w.msg)
	}
	if w.method != http.MethodHead && (r.JSON["message"] != w.msg+"\n" || r.JSON["data"] != nil) {
		t.Errorf("%s %s: body %s", w.method, w.path, r.Body)
	}
}

// mustOK calls and fails the test unless the answer is 200.
func mustOK(t testing.TB, srv *Server, hc *http.Client, method, path string, params url.Values) any {
	t.Helper()
	r := call(t, srv, hc, method, path, params)
	if r.Status != 200 {
		t.Fatalf("%s %s: status %d %s body %s", method, path, r.Status, r.Reason, r.Body)
	}
	return r.data()
}

// waitTask polls a task like the clients do (without their 2 s sleeps)
// and returns its exit status and whether it was seen running.
func waitTask(t testing.TB, srv *Server, hc *http.Client, upid string) (string, bool) {
	t.Helper()
	node, ok := upidNode(upid)
	if !ok {
		t.Fatalf("not a UPID: %q", upid)
	}
	sawRunning := false
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		d := mustOK(t, srv, hc, "GET", "/nodes/"+node+"/tasks/"+upid+"/status", nil).(map[string]any)
		if d["status"] == "running" {
			sawRunning = true
			time.Sleep(5 * time.Millisecond)
			continue
		}
		return d["exitstatus"].(string), sawRunning
	}
	t.Fatalf("task %s still running", upid)
	return "", false
}

// pxClient is the real proxmox-api-go client, as proxmox-api-go.md §1 builds it.
func pxClient(t testing.TB, srv *Server) *pxapi.Client {
	t.Helper()
	var tlsConf *tls.Config
	if pem := srv.CACertPEM(); pem != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tlsConf = &tls.Config{RootCAs: pool}
	}
	c, err := pxapi.NewClient(srv.URL(), nil, "", tlsConf, "", 300, false)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	var tid pxapi.ApiTokenID
	if err := tid.Parse(srv.TokenID()); err != nil {
		t.Fatalf("parse token id: %v", err)
	}
	c.SetAPIToken(tid, pxapi.ApiTokenSecret(srv.TokenSecret()))
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func asAPIErr(err error, target **pxapi.ApiError) bool { return errors.As(err, target) }
