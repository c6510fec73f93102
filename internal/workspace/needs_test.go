package workspace

import (
	"slices"
	"strings"
	"testing"

	"templated/internal/state"
)

func TestBuildNeeds(t *testing.T) {
	d, err := LoadDesired(defaultDesired)
	if err != nil {
		t.Fatal(err)
	}
	root := DefaultRoot(defaultDesired)
	for _, tc := range []struct {
		name  string
		build string
		want  Needs
	}{
		{"tpl-ubuntu-22.04", state.BuildClone, Needs{CloneVM: "base-ubuntu-22.04"}},
		{"tpl-rocky-9", state.BuildClone, Needs{CloneVM: "base-rocky-9"}},
		{"tpl-win2022", state.BuildISO, Needs{ISOs: []string{"", "virtio-win.iso"}}},
		{"tpl-ubuntu-22.04", state.BuildISO, Needs{ISOs: []string{"ubuntu-22.04.5-live-server-amd64.iso"}}},
	} {
		tp, ok := d.Template(tc.name)
		if !ok {
			t.Fatalf("%s not in the desired file", tc.name)
		}
		tp.Build = tc.build
		got, err := BuildNeeds(root, tp)
		if err != nil {
			t.Fatalf("%s (%s): %v", tc.name, tc.build, err)
		}
		if tc.want.ISOs != nil && tc.want.ISOs[0] == "" && len(got.ISOs) > 0 {
			tc.want.ISOs[0] = got.ISOs[0] // the Windows ISO's name is the var file's business
			if !strings.HasSuffix(got.ISOs[0], ".iso") {
				t.Errorf("%s: installer ISO %q", tc.name, got.ISOs[0])
			}
		}
		if got.CloneVM != tc.want.CloneVM || !slices.Equal(got.ISOs, tc.want.ISOs) || got.Bridge != "vmbr0" {
			t.Errorf("%s (%s): %+v, want %+v", tc.name, tc.build, got, tc.want)
		}
	}
}
