package pvesim

import (
	"errors"
	"strings"
	"testing"

	pxapi "github.com/Telmate/proxmox-api-go/proxmox"
)

func TestAuthFailures(t *testing.T) {
	srv := startSim(t, Options{Tokens: map[string]string{"root@pam!templated": "s3cret", "ci@pve!bot": "other"}})
	hc := httpClient(t, srv)
	cases := []struct {
		name, auth, reason string
		status             int
	}{
		{"no credentials", "", "No ticket", 401},
		{"wrong secret", "PVEAPIToken=root@pam!templated=nope", "Authentication failed!", 401},
		{"unknown token", "PVEAPIToken=root@pam!other=s3cret", "Authentication failed!", 401},
		{"secret of another token", "PVEAPIToken=root@pam!templated=other", "Authentication failed!", 401},
		{"no secret", "PVEAPIToken=root@pam!templated", "Authentication failed!", 401},
		{"ticket scheme", "PVEAuthCookie=abc", "Authentication failed!", 401},
		{"good", "PVEAPIToken=root@pam!templated=s3cret", "OK", 200},
		{"good second token", "PVEAPIToken=ci@pve!bot=other", "OK", 200},
		{"space form", "PVEAPIToken root@pam!templated=s3cret", "OK", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := callAuth(t, srv, hc, "GET", "/version", nil, tc.auth)
			if r.Status != tc.status || r.Reason != tc.reason {
				t.Fatalf("got %d %q, want %d %q", r.Status, r.Reason, tc.status, tc.reason)
			}
			if tc.status == 401 && len(r.Body) != 0 {
				t.Fatalf("401 body %q, want empty", r.Body)
			}
		})
	}
	var authFails int
	for _, rq := range srv.Requests() {
		if rq.Status == 401 {
			authFails++
			if rq.TokenID != "" {
				t.Errorf("failed request recorded token %q", rq.TokenID)
			}
		}
	}
	if authFails != 6 {
		t.Errorf("recorded %d 401s, want 6", authFails)
	}
}

func TestDefaultTokenIsRandom(t *testing.T) {
	a := startSim(t, Options{NoTLS: true})
	b := startSim(t, Options{NoTLS: true})
	if a.TokenID() != "root@pam!templated" {
		t.Fatalf("token id %q", a.TokenID())
	}
	if a.TokenSecret() == b.TokenSecret() || len(a.TokenSecret()) != 36 {
		t.Fatalf("secrets %q %q: want distinct UUIDs", a.TokenSecret(), b.TokenSecret())
	}
	if !strings.HasPrefix(a.AuthHeader(), "PVEAPIToken=root@pam!templated=") {
		t.Fatalf("auth header %q", a.AuthHeader())
	}
}

func TestBadTokenOptions(t *testing.T) {
	for _, tokens := range []map[string]string{{"root": "x"}, {"root@pam!t": ""}, {"root@pam": "x"}} {
		if _, err := Start(Options{NoTLS: true, Tokens: tokens}); err == nil {
			t.Errorf("Start with tokens %v: want error", tokens)
		}
	}
}

func TestAuthFailureThroughLibrary(t *testing.T) {
	srv := startSim(t, Options{NoTLS: true})
	c, err := pxapi.NewClient(srv.URL(), nil, "", nil, "", 300, false)
	if err != nil {
		t.Fatal(err)
	}
	var tid pxapi.ApiTokenID
	if err := tid.Parse(srv.TokenID()); err != nil {
		t.Fatal(err)
	}
	c.SetAPIToken(tid, "wrong-secret")
	// GET helpers retry empty-body errors with sleeps; PUT does not.
	err = c.Put(testCtx(t), map[string]any{"description": "x"}, "/nodes/pve1/qemu/100/config")
	if err == nil || !strings.Contains(err.Error(), "401 Authentication failed!") {
		t.Fatalf("Put with a bad secret: %v", err)
	}
	var ae *pxapi.ApiError
	if errors.As(err, &ae) {
		t.Fatalf("empty 401 body became an ApiError: %+v", ae)
	}
}
