package main

// The notifications acceptance test: a daemon on the simulator with a
// signed webhook to a loopback receiver; a failing build, its repeat, a
// recovery while the receiver is down for a minute with a daemon restart
// in between.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"templated/internal/ledger"
	"templated/internal/notify"
	"templated/internal/pvesim"
)

const hookKey = "0f4c1d7e-hook-key-9b2a-6c3e1f0a7d55" // the webhook's signing key

// receiver is a loopback webhook endpoint that verifies every delivery's
// signature; it can go down and come back on the same address.
type receiver struct {
	*switchable

	mu     sync.Mutex
	events []notify.Event
	bodies [][]byte
	bad    []string // deliveries whose signature did not verify
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.switchable = newSwitchable(t, http.HandlerFunc(r.serve))
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := notify.Verify([]byte(hookKey), req.Header, body, time.Now(), 5*time.Minute); err != nil {
		r.bad = append(r.bad, err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var e notify.Event
	if err := json.Unmarshal(body, &e); err != nil || req.Header.Get(notify.HeaderDelivery) != e.ID {
		r.bad = append(r.bad, "body: "+string(body))
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	r.events, r.bodies = append(r.events, e), append(r.bodies, body)
	w.WriteHeader(http.StatusNoContent)
}

// got returns the events received of kind.
func (r *receiver) got(kind string) []notify.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []notify.Event
	for _, e := range r.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func TestNotifyE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("real Packer builds; skipped with -short")
	}
	t.Parallel()
	rcv := newReceiver(t)
	w := newDaemonWorld(t, pvesim.Options{})
	w.base += "\nnotifications:\n  repeat_interval: 24h\n  sinks:\n    - name: ops-hook\n      type: webhook\n" +
		"      url: http://" + rcv.addr + "/hook\n      hmac_secret: TEMPLATED_NOTIFY_HOOK_KEY\n" +
		"  routes:\n    - sink: ops-hook\n      events: [build.failed, template.suspended]\n"
	w.writeDesired("1.0.0", "")
	w.env = append(w.env, "TEMPLATED_NOTIFY_HOOK_KEY="+hookKey)
	// Packer's clone of the base VM fails until the fault goes.
	fault := w.fault(pvesim.Fault{Method: "POST", Path: "/nodes/*/qemu/*/clone", VMID: 9800, TaskExit: "clone failed: storage 'local-lvm' is full"})
	p := w.startDaemon("--interval", "1h", "--debounce", "100ms", "--failure-limit", "5")
	p.waitFor(30*time.Second, "the first run", func() bool { return p.idleAfter(time.Time{}) })

	// A failed build: one signed notification naming the build.
	w.writeDesired("1.1.0", "")
	p.waitFor(3*time.Minute, "the failure notified", func() bool { return len(rcv.got("build.failed")) == 1 })
	failedID := w.buildID("failure")
	e := rcv.got("build.failed")[0]
	if e.Schema != notify.Schema || e.Template != daemonTemplate || e.BuildID != failedID || e.Release != "1.1.0" ||
		e.Evidence != daemonTemplate+"/"+failedID || !strings.Contains(e.Message, "storage 'local-lvm' is full") || e.Severity != notify.Warning {
		t.Errorf("the failure's notification: %+v (failed build %s)", e, failedID)
	}

	// The same failure again: grouped, not sent.
	before := time.Now()
	w.writeDesired("1.1.0", "again")
	p.waitFor(3*time.Minute, "the second failed build", func() bool {
		return w.count(ledger.KindBuildFinished, "failure") == 2 && p.idleAfter(before)
	})

	// The receiver goes down for a minute; meanwhile the build recovers
	// and the daemon restarts with the recovery still queued.
	rcv.down()
	downAt := time.Now()
	w.sim.Faults().Remove(fault)
	before = time.Now()
	w.writeDesired("1.1.0", "retry")
	p.waitFor(3*time.Minute, "the successful build", func() bool {
		return w.count(ledger.KindBuildFinished, "success") == 1 && p.idleAfter(before)
	})
	pending := filepath.Join(w.envValue("TEMPLATED_STATE_DIR"), "notify", "pending")
	if n := countFiles(t, pending); n != 1 {
		t.Fatalf("%d deliveries pending while the receiver is down, want 1 (the recovery)", n)
	}
	p.signal(syscall.SIGTERM)
	if code := p.exitCode(time.Minute); code != 0 {
		t.Fatalf("exit code after SIGTERM = %d\n%s", code, p.tail())
	}
	if n := countFiles(t, pending); n != 1 {
		t.Fatalf("%d deliveries pending after the restart's stop, want 1", n)
	}
	p = w.startDaemon("--interval", "1h", "--debounce", "100ms", "--failure-limit", "5")
	p.waitFor(time.Minute, "the run after the restart", func() bool { return p.idleAfter(time.Time{}) })
	time.Sleep(time.Until(downAt.Add(time.Minute)))
	rcv.up()
	p.waitFor(3*time.Minute, "the recovery notified", func() bool { return len(rcv.got("build.succeeded")) == 1 })
	okID := w.buildID("success")
	if r := rcv.got("build.succeeded")[0]; !r.Recovery || r.BuildID != okID || r.Template != daemonTemplate {
		t.Errorf("the recovery's notification: %+v (build %s)", r, okID)
	}
	p.waitFor(time.Minute, "the deliveries in the ledger", func() bool { return w.count(ledger.Kind(notify.KindDelivered), "delivered") == 2 })

	// Exactly those two, every one signed, nothing pending, and no secret
	// in a body or the ledger.
	rcv.mu.Lock()
	kinds, bad, bodies := len(rcv.events), rcv.bad, rcv.bodies
	rcv.mu.Unlock()
	if kinds != 2 || len(bad) != 0 {
		t.Errorf("received %d events (%d unsigned or malformed: %v), want 2", kinds, len(bad), bad)
	}
	if n := countFiles(t, pending); n != 0 {
		t.Errorf("%d deliveries still pending", n)
	}
	secrets := [][]byte{[]byte(hookKey), []byte(w.sim.TokenSecret())}
	for _, b := range append(bodies, ledgerBytes(t, w.envValue("TEMPLATED_EVIDENCE_DIR"))) {
		for _, s := range secrets {
			if bytes.Contains(b, s) {
				t.Errorf("a secret reached a body or the ledger: %.200s", b)
			}
		}
	}
}

// countFiles counts the regular files in dir (0 when it does not exist).
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	} else if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			n++
		}
	}
	return n
}

// ledgerBytes is every file under the evidence directory, concatenated.
func ledgerBytes(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		all = append(all, b...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}
