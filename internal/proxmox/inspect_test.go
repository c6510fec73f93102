package proxmox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"templated/internal/proxmox"
	"templated/internal/pvesim"
)

func TestInspectReadsWhatDoctorNeeds(t *testing.T) {
	seed, err := pvesim.LoadSeed("../pvesim/testdata/doctor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := pvesim.Start(pvesim.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	c, err := proxmox.New(proxmox.Config{URL: srv.URL(), TokenID: srv.TokenID(), TokenSecret: proxmox.Secret(srv.TokenSecret()), CAFile: srv.CAFile()}, proxmox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := c.ServerCertificate(ctx)
	if err != nil || cert.VerifyErr != "" || !cert.NotAfter.After(time.Now()) {
		t.Fatalf("certificate: %+v %v", cert, err)
	}
	perms, err := c.Permissions(ctx)
	if err != nil || !perms["/"]["VM.Allocate"] {
		t.Fatalf("permissions of the ok token on /: %v %v", perms["/"], err)
	}
	members, err := c.ClusterStatus(ctx)
	if err != nil || len(members) != 4 || members[2].Name != "pve2" || members[2].Online || !members[1].Online {
		t.Fatalf("cluster status: %+v %v", members, err)
	}
	nid, err := c.NextIDRange(ctx)
	if err != nil || nid != (proxmox.NextID{Set: true, Lower: 9000, Upper: 9100}) {
		t.Fatalf("next-id: %+v %v", nid, err)
	}
	if nt, err := c.NodeTime(ctx, "pve3"); err != nil || nt.Sub(time.Now()) < 9*time.Minute {
		t.Fatalf("pve3's time %v: %v", nt, err)
	}
	sts, err := c.Storages(ctx, "pve1")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if st.Name == "old-nfs" && (st.Enabled || st.Active) || st.Name == "scratch" && (len(st.Content) != 1 || st.Content[0] != "iso") {
			t.Errorf("storage %+v", st)
		}
	}
	vols, err := c.Volumes(ctx, "pve1", "local", "iso")
	if err != nil || len(vols) != 1 || vols[0] != "local:iso/ubuntu-24.04.2-live-server-amd64.iso" {
		t.Fatalf("ISOs on local: %v %v", vols, err)
	}
	if _, err := c.NodeTime(ctx, "pve2"); err == nil {
		t.Fatal("an offline node answered")
	}

	// A CA the client does not know: the handshake still shows the
	// certificate, and says why it does not verify.
	c2, _ := proxmox.New(proxmox.Config{URL: srv.URL(), TokenID: srv.TokenID(), TokenSecret: proxmox.Secret(srv.TokenSecret())}, proxmox.Options{})
	if cert, err := c2.ServerCertificate(ctx); err != nil || cert.VerifyErr == "" || cert.Subject == "" {
		t.Fatalf("unverified certificate: %+v %v", cert, err)
	}
	c3, _ := proxmox.New(proxmox.Config{URL: "https://127.0.0.1:1", TokenID: srv.TokenID(), TokenSecret: proxmox.Secret(srv.TokenSecret())}, proxmox.Options{})
	if _, err := c3.ServerCertificate(ctx); !errors.Is(err, proxmox.ErrUnreachable) {
		t.Fatalf("closed port: %v", err)
	}
}
