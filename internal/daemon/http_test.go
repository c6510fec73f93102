package daemon

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond every 10ms for at most 10s (a bound, not a timing
// assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestHTTPEndpoints(t *testing.T) {
	tpl := testTemplate{Name: "tpl-a", VMID: 9000, Schedule: "0 3 1 * *", TZ: "Europe/Berlin"}
	h := newHarness(t, func(o *Options) { o.Listen = "127.0.0.1:0" }, tpl)
	built := time.Now().Add(-48 * time.Hour)
	h.rec.setFn(func(ctx context.Context, req Request) (Outcome, error) {
		req.Observed()
		out := keepAll(req)
		out.Templates[0].BuiltAt = built
		out.Templates[0].Action, out.Templates[0].Build, out.Templates[0].Duration = ActionRebuild, BuildSuccess, 90*time.Second
		out.Templates[0].Drift = "drifted"
		return out, nil
	})
	h.start()
	waitFor(t, "readiness", func() bool { return h.d.Status().Ready && h.d.Status().State == phaseIdle })
	base := "http://" + h.d.Addr().String()

	if code, body := httpGet(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if code, body := httpGet(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %q", code, body)
	}
	st, err := FetchStatus(context.Background(), h.d.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != StatusVersion || st.State != phaseIdle || !st.Ready || st.LastRun == nil || st.LastRun.Result != resultSuccess {
		t.Fatalf("status = %+v", st)
	}
	ts := st.Templates[0]
	if ts.Name != "tpl-a" || ts.VMID != 9000 || ts.Release != "1.0.0" || ts.LastResult != "success" ||
		ts.LastBuildDurationSeconds != 90 || ts.Drift != "drifted" || ts.Suspended || ts.NextRebuild.IsZero() {
		t.Fatalf("template status = %+v", ts)
	}
	if ts.AgeSeconds < (48 * time.Hour).Seconds() {
		t.Fatalf("age = %v s", ts.AgeSeconds)
	}
	if loc, _ := time.LoadLocation("Europe/Berlin"); ts.NextRebuild.In(loc).Format("02 15:04") != "01 03:00" {
		t.Fatalf("next rebuild = %s, want the 1st at 03:00 Berlin time", ts.NextRebuild)
	}

	code, metrics := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`templated_template_age_seconds{template="tpl-a"}`,
		`templated_template_last_build_success{template="tpl-a"} 1`,
		`templated_template_last_build_duration_seconds{template="tpl-a"} 90`,
		`templated_template_drift{state="drifted",template="tpl-a"} 1`,
		`templated_template_suspended{template="tpl-a"} 0`,
		`templated_template_next_rebuild_timestamp_seconds{template="tpl-a"}`,
		`templated_reconciles_total{result="success",trigger="start"} 1`,
		`templated_reconcile_duration_seconds_count{result="success"} 1`,
		`templated_desired_reloads_total{result="success"} 1`,
		`templated_desired_reloads_total{result="failure"} 0`,
		`templated_proxmox_api_errors_total 0`,
		`templated_ready 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	resp, err := http.Post(base+"/status", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /status = %d", resp.StatusCode)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("listener still open after Run returned")
	}
}

func TestReadyzBeforeObservation(t *testing.T) {
	h := newHarness(t, nil, tplA)
	srv := httptest.NewServer(h.d.Handler())
	defer srv.Close()
	if code, body := httpGet(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not been observed") {
		t.Fatalf("/readyz = %d %q", code, body)
	}
	if code, _ := httpGet(t, srv.URL+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
}

func TestReadyGoesStale(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.ReadyStale = time.Hour }, tplA)
	now := time.Now()
	h.d.mu.Lock()
	h.d.v.observedOnce, h.d.v.observationOK, h.d.v.lastObserved = true, true, now.Add(-2*time.Hour)
	h.d.mu.Unlock()
	if ok, why := h.d.ready(now); ok || !strings.Contains(why, "older than 1h") {
		t.Fatalf("ready = %v %q with a 2h old observation", ok, why)
	}
	h.d.mu.Lock()
	h.d.v.running = true
	h.d.mu.Unlock()
	if ok, _ := h.d.ready(now); !ok {
		t.Fatal("not ready during a long run that began with a good observation")
	}
}

func TestListenMustBeLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:9750", true},
		{"127.0.0.2:0", true},
		{"[::1]:9750", true},
		{"localhost:9750", true},
		{":9750", false},
		{"0.0.0.0:9750", false},
		{"192.168.1.10:9750", false},
		{"[::]:9750", false},
		{"example.com:9750", false},
		{"9750", false},
	} {
		err := checkLoopback(tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
	h := newHarness(t, nil, tplA)
	_, err := New(Options{DesiredPath: h.path, StateDir: h.state, Load: loadTestDesired, Reconciler: h.rec, Listen: "0.0.0.0:9750"})
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("New with a public listen address = %v", err)
	}
}

func TestFetchStatusErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusInternalServerError)
	}))
	defer srv.Close()
	if _, err := FetchStatus(context.Background(), srv.URL); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("FetchStatus = %v", err)
	}
}
