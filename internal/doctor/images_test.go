package doctor_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"templated/internal/doctor"
	"templated/internal/proxmox"
	"templated/internal/proxmox/proxmoxtest"
	"templated/internal/pvesim"
	"templated/internal/state"
)

// grant is privileges given on a path (propagating), through a role of
// their own.
type grant struct {
	path  string
	privs []string
}

// imageGrants is the smallest set doctor asks for to download the cloud
// image of tpl-ubuntu-24.04 and make its base VM.
func imageGrants() []grant {
	return []grant{
		{"/storage/local", []string{"Datastore.AllocateTemplate", "Datastore.Audit"}},
		{"/nodes/pve1", []string{"Sys.AccessNetwork"}},
		{"/vms", []string{"VM.Allocate", "VM.Audit", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.HWType",
			"VM.Config.Options", "VM.Config.Disk", "VM.Config.Network"}},
		{"/storage/local-lvm", []string{"Datastore.AllocateSpace"}},
		{"/sdn/zones/localnetwork/vmbr0", []string{"SDN.Use"}},
	}
}

// tokenAccess is access control with one user and its token (not
// privilege-separated), which has exactly grants, each through a role of
// its own.
func tokenAccess(user, token, secret string, grants []grant) *pvesim.AccessSpec {
	no := false
	acc := &pvesim.AccessSpec{Users: []pvesim.UserSpec{{ID: user}},
		Tokens: []pvesim.TokenSpec{{ID: token, Secret: secret, Privsep: &no}}}
	for i, g := range grants {
		role := fmt.Sprintf("Grant%d", i)
		acc.Roles = append(acc.Roles, pvesim.RoleSpec{Name: role, Privs: g.privs})
		acc.ACLs = append(acc.ACLs, pvesim.ACLSpec{Path: g.path, Roles: []string{role}, Users: []string{user}})
	}
	return acc
}

const imgToken, imgSecret = "img@pve!dl", "6f0f8a52-0000-4000-8000-0000000000d1"

var cloudImg = state.Image{Name: "ubuntu-24.04-cloud", Kind: state.ImageCloud, URL: "https://cloud-images.ubuntu.com/noble/current/{file}",
	File: "noble-server-cloudimg-amd64.img", Format: "qcow2", Storage: "local"}

// imageWorld is a simulated PVE of version whose token img@pve!dl has
// exactly grants, and the desired file's tpl-ubuntu-24.04 built from
// cloudImg with base VMs in 8100-8109.
func imageWorld(t *testing.T, version string, grants []grant) *world {
	w := newWorld(t, "", func(s *pvesim.Seed) {
		s.Version = version
		s.Storages[0].Content = append(s.Storages[0].Content, "import")
		s.Access = tokenAccess("img@pve", imgToken, imgSecret, grants)
	})
	w.token(imgToken, imgSecret)
	w.only("tpl-ubuntu-24.04")
	w.desire.Images = []state.Image{cloudImg}
	w.desire.VMIDs.Bases = state.Range{First: 8100, Last: 8109}
	w.each(func(t *state.Template) { t.Image = cloudImg.Name })
	return w
}

// imagePrivileges runs doctor and returns its privileges.images and
// privileges.bases results.
func (w *world) imagePrivileges() (images, bases doctor.Result) {
	w.t.Helper()
	_, rs := w.run()
	for _, r := range rs {
		switch r.ID {
		case "privileges.images":
			images = r
		case "privileges.bases":
			bases = r
		}
	}
	if images.ID == "" || bases.ID == "" {
		w.t.Fatalf("doctor reported no privileges.images or privileges.bases: %v", rs)
	}
	return images, bases
}

// makeBase does with the token what templated does: download the image
// and make the base VM from it.
func (w *world) makeBase(t *testing.T) error {
	img := proxmoxtest.QCOW2(2 << 30)
	ts := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rw.Write(img) }))
	defer ts.Close()
	c, err := proxmox.New(w.in.Conn, proxmox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(img)
	const file = "noble-server-cloudimg-amd64-3f1c2e44a1b2.qcow2"
	if _, err := c.DownloadURL(t.Context(), "pve1", "local", proxmox.Download{Content: "import", Filename: file,
		URL: ts.URL + "/" + file, Checksum: hex.EncodeToString(sum[:]), Algorithm: "sha256"}); err != nil {
		return err
	}
	return c.CreateBase(t.Context(), "pve1", proxmox.BaseVM{VMID: 8100, Name: "base-ubuntu-24-04", Description: "templated base",
		Tags: []string{"templated-base"}, Storage: "local-lvm", ImportFrom: "local:import/" + file, Cores: 2, MemoryMiB: 2048})
}

// TestImagePrivilegesMatchPVE: with the grants doctor asks for, the
// download and the base VM work on PVE 8 and 9; Sys.Audit with Sys.Modify
// on / does instead of Sys.AccessNetwork.
func TestImagePrivilegesMatchPVE(t *testing.T) {
	sysRoot := imageGrants()
	sysRoot[1] = grant{"/", []string{"Sys.Audit", "Sys.Modify"}}
	for name, tc := range map[string]struct {
		version string
		grants  []grant
	}{
		"pve8":                 {"8.4.1", imageGrants()},
		"pve9":                 {"9.0.10", imageGrants()},
		"pve9 Sys.Modify on /": {"9.0.10", sysRoot},
		"pve8 Sys.Modify on /": {"8.4.1", sysRoot},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := imageWorld(t, tc.version, tc.grants)
			images, bases := w.imagePrivileges()
			if images.Status != doctor.Pass || bases.Status != doctor.Pass {
				t.Fatalf("doctor: images %s %q %v; bases %s %q %v", images.Status, images.Message, images.Details,
					bases.Status, bases.Message, bases.Details)
			}
			if err := w.makeBase(t); err != nil {
				t.Fatalf("doctor passed, PVE refused: %v", err)
			}
		})
	}
}

// TestImagePrivilegesEachNeeded: without any one of the grants doctor
// names the privilege and PVE refuses the download or the base VM —
// except VM.Audit, which only listing the base VMs needs.
func TestImagePrivilegesEachNeeded(t *testing.T) {
	for gi, g := range imageGrants() {
		for _, priv := range g.privs {
			t.Run(priv+" on "+g.path, func(t *testing.T) {
				t.Parallel()
				grants := imageGrants()
				grants[gi].privs = slices.DeleteFunc(slices.Clone(g.privs), func(p string) bool { return p == priv })
				w := imageWorld(t, "9.0.10", grants)
				images, bases := w.imagePrivileges()
				named := false
				for _, r := range []doctor.Result{images, bases} {
					if r.Status == doctor.Fail && slices.ContainsFunc(r.Details, func(d string) bool { return strings.Contains(d, priv+" ") }) {
						named = true
					}
				}
				if !named {
					t.Errorf("doctor does not name %s: images %s %v; bases %s %v", priv, images.Status, images.Details, bases.Status, bases.Details)
				}
				err := w.makeBase(t)
				if priv == "VM.Audit" {
					if err != nil {
						t.Errorf("without VM.Audit: %v", err)
					}
					return
				}
				if err == nil {
					t.Errorf("PVE made the base VM without %s on %s", priv, g.path)
				}
			})
		}
	}
}

// TestBuildMissingImages: BuildMissing adds the images' and the base
// VMs' privileges when it is given the desired images.
func TestBuildMissingImages(t *testing.T) {
	w := newWorld(t, "", nil)
	tpl, ok := w.desire.Template("tpl-ubuntu-24.04")
	if !ok {
		t.Fatal("no tpl-ubuntu-24.04 in the desired file")
	}
	tpl.Image = cloudImg.Name
	ranges := w.desire.VMIDs
	ranges.Bases = state.Range{First: 8100, Last: 8109}
	perms := proxmox.Permissions{"/": {"Sys.Audit": true}}
	without := doctor.BuildMissing(perms, ranges, repo(t, "packer"), tpl, nil, 9)
	with := doctor.BuildMissing(perms, ranges, repo(t, "packer"), tpl, nil, 9, cloudImg)
	for _, want := range []string{"Datastore.AllocateTemplate on /storage/local", "Sys.AccessNetwork on /nodes/pve1",
		"VM.Allocate on /vms/8100-8109", "VM.Config.HWType on /vms/8100-8109", "SDN.Use on /sdn/zones/localnetwork/vmbr0",
		"Datastore.Audit or Datastore.AllocateSpace on /storage/local", "VM.Clone on /vms/8100-8109"} {
		if !strings.Contains(with, want) {
			t.Errorf("BuildMissing with images lacks %q:\n%s", want, with)
		}
		if strings.Contains(without, want) && !strings.HasPrefix(want, "SDN.Use") {
			t.Errorf("BuildMissing without images has %q", want)
		}
	}
	perms["/"]["Sys.Modify"] = true
	if with := doctor.BuildMissing(perms, ranges, repo(t, "packer"), tpl, nil, 9, cloudImg); strings.Contains(with, "Sys.AccessNetwork") {
		t.Errorf("Sys.Audit and Sys.Modify on / do instead of Sys.AccessNetwork: %s", with)
	}
}
