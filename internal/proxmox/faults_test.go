package proxmox_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logrustest "github.com/sirupsen/logrus/hooks/test"

	"templated/internal/proxmox"
	"templated/internal/proxmox/proxmoxtest"
	"templated/internal/pvesim"
	"templated/internal/state"
)

// returns runs f and fails the test if it does not return within a
// generous bound (a hang, not a timing measurement).
func returns(t *testing.T, f func() error) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("call did not return")
		return nil
	}
}

func TestFaults(t *testing.T) {
	type env struct {
		h   *proxmoxtest.SimHarness
		log *logrustest.Hook
	}
	clone := func(e env) error {
		return e.h.Client.Clone(context.Background(), "pve", 9000, 9900, "staging")
	}
	list := func(e env) error { _, err := e.h.Client.ListGuests(context.Background()); return err }
	cases := []struct {
		name  string
		fault pvesim.Fault
		call  func(env) error
		check func(t *testing.T, e env, err error)
	}{
		{"500 with message", pvesim.Fault{Method: "GET", Path: "/cluster/resources", Status: 500, Message: "cluster filesystem not ready"}, list,
			func(t *testing.T, e env, err error) {
				if !errors.Is(err, proxmox.ErrAPI) || !strings.Contains(err.Error(), "Proxmox answered 500: cluster filesystem not ready") {
					t.Fatalf("err = %v", err)
				}
			}},
		{"596 empty body", pvesim.Fault{Method: "GET", Path: "/cluster/resources", Status: 596, Message: "Connection timed out"}, list,
			func(t *testing.T, e env, err error) {
				if !errors.Is(err, proxmox.ErrAPI) || !strings.Contains(err.Error(), "596: Connection timed out") || !strings.Contains(err.Error(), "retry later") {
					t.Fatalf("err = %v", err)
				}
				if n := e.h.Client.Stats().Requests; n != 1 {
					t.Fatalf("%d requests: an empty-bodied error must not be retried", n)
				}
			}},
		{"task fails", pvesim.Fault{Method: "POST", Path: "/nodes/*/qemu/*/clone", TaskExit: "clone failed: disk full"}, clone,
			func(t *testing.T, e env, err error) {
				var te *state.TaskError
				if !errors.As(err, &te) || te.ExitStatus != "clone failed: disk full" || !strings.HasPrefix(te.UPID, "UPID:pve:") ||
					!errors.Is(err, proxmox.ErrTaskFailed) || !strings.Contains(err.Error(), "clone 9000 to 9900: task UPID:") {
					t.Fatalf("err = %v", err)
				}
			}},
		{"task hangs", pvesim.Fault{Method: "POST", Path: "/nodes/*/qemu/*/clone", TaskHang: true}, clone,
			func(t *testing.T, e env, err error) {
				if !errors.Is(err, proxmox.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "may still be running") {
					t.Fatalf("err = %v", err)
				}
			}},
		{"latency beyond deadline", pvesim.Fault{Method: "GET", Path: "/cluster/resources", Latency: time.Minute}, list,
			func(t *testing.T, e env, err error) {
				if !errors.Is(err, proxmox.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "within the deadline (300ms)") {
					t.Fatalf("err = %v", err)
				}
			}},
		{"connection dropped", pvesim.Fault{Method: "GET", Path: "/cluster/resources", Drop: true}, list,
			func(t *testing.T, e env, err error) {
				if !errors.Is(err, proxmox.ErrUnreachable) || !strings.Contains(err.Error(), "cannot reach Proxmox at "+e.h.Server.URL()) {
					t.Fatalf("err = %v", err)
				}
			}},
		{"status poll fails once", pvesim.Fault{Method: "GET", Path: "/nodes/*/tasks/*/status", Status: 500, Message: "temporary", Count: 1}, clone,
			func(t *testing.T, e env, err error) {
				if err != nil {
					t.Fatalf("one failed poll must not fail the clone: %v", err)
				}
				if _, ok := e.h.Server.Cluster().Guest(9900); !ok {
					t.Fatal("clone missing")
				}
			}},
		{"clone answer 500", pvesim.Fault{Method: "POST", Path: "/nodes/*/qemu/*/clone", Status: 500, Message: "unable to create VM 9900: config file already exists"}, clone,
			func(t *testing.T, e env, err error) {
				if !errors.Is(err, proxmox.ErrExists) {
					t.Fatalf("err = %v", err)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log, hook := logrustest.NewNullLogger()
			log.SetLevel(logrus.DebugLevel)
			h := proxmoxtest.NewSimHarness(t, proxmoxtest.SimOptions{Client: proxmox.Options{
				Log: log, ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, TaskTimeout: 500 * time.Millisecond,
			}})
			h.AddVM(t, proxmoxtest.VM{VMID: 9000, Name: "tpl", Template: true})
			h.Server.ResetRequests()
			h.Server.Faults().MustAdd(tc.fault)
			e := env{h, hook}
			err := returns(t, func() error { return tc.call(e) })
			tc.check(t, e, err)
			secret := h.Server.TokenSecret()
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Fatalf("secret in error: %v", err)
			}
			for _, en := range hook.AllEntries() {
				if s, _ := en.String(); strings.Contains(s, secret) {
					t.Fatalf("secret logged: %s", s)
				}
			}
		})
	}
}

func TestFaultBadToken(t *testing.T) {
	srv, err := pvesim.Start(pvesim.Options{NoTLS: true, Seed: proxmoxtest.SimSeed()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := proxmox.New(proxmox.Config{URL: srv.URL(), TokenID: srv.TokenID(), TokenSecret: "not-" + testSecret}, proxmox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = returns(t, func() error { _, err := c.ListGuests(context.Background()); return err })
	if !errors.Is(err, proxmox.ErrAuth) || !strings.Contains(err.Error(), "Authentication failed!") ||
		!strings.Contains(err.Error(), "token wrong or revoked") || strings.Contains(err.Error(), testSecret) {
		t.Fatalf("err = %v", err)
	}
	if n := c.Stats().Requests; n != 1 {
		t.Fatalf("%d requests: a 401 must not be retried", n)
	}
}

func TestFaultCancelDuringTaskWait(t *testing.T) {
	h := proxmoxtest.NewSimHarness(t, proxmoxtest.SimOptions{})
	h.AddVM(t, proxmoxtest.VM{VMID: 9000, Name: "tpl", Template: true})
	h.Server.Faults().MustAdd(pvesim.Fault{Method: "POST", Path: "/nodes/*/qemu/*/clone", TaskHang: true})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(h.Server.Cluster().Tasks()) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	err := returns(t, func() error { return h.Client.Clone(ctx, "pve", 9000, 9900, "staging") })
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "keeps running") {
		t.Fatalf("err = %v", err)
	}
}
