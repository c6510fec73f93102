package doctor_test

import (
	"slices"
	"strings"
	"testing"

	"templated/internal/doctor"
	"templated/internal/pvesim"
	"templated/internal/workspace"
)

// TestDoctorImages: with the default desired file's images, a cluster
// that holds none of the installer ISOs and base VMs is fine: templated
// downloads the ISOs and makes the bases itself, and doctor says so
// instead of asking for an upload. What the var files still name (the
// Windows build's answer-less extras are images too) is not asked for.
func TestDoctorImages(t *testing.T) {
	w := newWorld(t, "", func(s *pvesim.Seed) {
		s.ISOs = nil
		s.Guests = slices.DeleteFunc(s.Guests, func(g pvesim.GuestSpec) bool { return strings.HasPrefix(g.Name, "base-") })
	})
	d, err := workspace.LoadDesired(repo(t, "desired", "templates.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	w.desire, w.in.Desired = d, d
	_, rs := w.run()
	byID := map[string]doctor.Result{}
	for _, r := range rs {
		byID[r.ID] = r
	}
	if r := byID["isos"]; r.Status != doctor.Pass {
		t.Errorf("isos: %s %s", r.Status, r.Message)
	}
	if r := byID["clone-bases"]; r.Status != doctor.Pass || !strings.Contains(r.Message, "templated makes the base VMs") {
		t.Errorf("clone-bases: %s %s", r.Status, r.Message)
	}

	// Without images, the same cluster lacks what the var files name.
	w = newWorld(t, "", func(s *pvesim.Seed) {
		s.ISOs = nil
		s.Guests = slices.DeleteFunc(s.Guests, func(g pvesim.GuestSpec) bool { return strings.HasPrefix(g.Name, "base-") })
	})
	_, rs = w.run()
	for _, id := range []string{"isos", "clone-bases"} {
		if !slices.ContainsFunc(rs, func(r doctor.Result) bool { return r.ID == id && r.Status == doctor.Fail }) {
			t.Errorf("%s does not fail for the var files' world", id)
		}
	}
}
