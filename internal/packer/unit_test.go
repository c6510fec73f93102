package packer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		want   string
	}{
		{"empty", nil, ""},
		{"fits", []string{"ab\n", "cd\n"}, "ab\ncd\n"},
		{"exactly full", []string{"abcdefg\n"}, "abcdefg\n"},
		{"wraps, cut to a whole line", []string{"one\n", "two\n", "three\n"}, "three\n"},
		{"wraps at a line end", []string{"12\n345\n67\n"}, "345\n67\n"},
		{"wraps mid line", []string{"123\n45\n67\n"}, "45\n67\n"},
		{"one write larger than the buffer", []string{"0123456789\nab\n"}, "ab\n"},
		{"no newline at all", []string{"0123456789abc"}, "56789abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRing(8)
			for _, w := range tc.writes {
				if n, err := r.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if got := string(r.Bytes()); got != tc.want {
				t.Errorf("Bytes = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRingKeepsLastBytes(t *testing.T) {
	r := newRing(100)
	var all bytes.Buffer
	for i := range 1000 {
		line := strings.Repeat(string(rune('a'+i%26)), i%13) + "\n"
		all.WriteString(line)
		r.Write([]byte(line))
	}
	got := r.Bytes()
	if len(got) > 100 || !bytes.HasSuffix(all.Bytes(), got) || len(got) < 100-13 {
		t.Errorf("ring kept %q", got)
	}
}

func TestParseMachine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want machineLine
		ok   bool
	}{
		{"1795696780,,ui,say,==> null.x: a%!(PACKER_COMMA) b\\nc\n", machineLine{"", "ui", []string{"say", "==> null.x: a, b\nc"}}, true},
		{"1795696780,null.x,artifact,0,id,9000", machineLine{"null.x", "artifact", []string{"0", "id", "9000"}}, true},
		{"1795696780,,version-prelease,", machineLine{"", "version-prelease", []string{""}}, true},
		{"1795696780,,ui", machineLine{"", "ui", []string{}}, true},
		{"Error: Failed to prepare build", machineLine{}, false},
		{"panic: runtime error, index out of range", machineLine{}, false},
		{"12a,,ui,say,x", machineLine{}, false},
		{",,ui,say,x", machineLine{}, false},
		{"1,,", machineLine{}, false},
		{"", machineLine{}, false},
	} {
		got, ok := parseMachine(tc.line)
		if ok != tc.ok || got.Target != tc.want.Target || got.Type != tc.want.Type || !slices.Equal(got.Data, tc.want.Data) {
			t.Errorf("parseMachine(%q) = %#v, %v; want %#v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMachineAccessors(t *testing.T) {
	m, _ := parseMachine("1,,ui,error,boom")
	if text, isErr, ok := m.uiText(); text != "boom" || !isErr || !ok {
		t.Errorf("uiText = %q %v %v", text, isErr, ok)
	}
	m, _ = parseMachine("1,,ui,progress,x")
	if _, _, ok := m.uiText(); ok {
		t.Error("ui,progress taken as text")
	}
	m, _ = parseMachine("1,x,artifact,1,id,Null")
	if idx, id, ok := m.artifactID(); idx != "1" || id != "Null" || !ok {
		t.Errorf("artifactID = %q %q %v", idx, id, ok)
	}
	m, _ = parseMachine("1,x,artifact,0,builder-id,proxmox")
	if _, _, ok := m.artifactID(); ok {
		t.Error("builder-id taken as the artifact ID")
	}
}

func TestBuildErrorMessage(t *testing.T) {
	cause := errors.New("cause")
	for _, tc := range []struct {
		err  BuildError
		want string
	}{
		{BuildError{Name: "tpl-x", ExitCode: 1, Errors: []string{"a", "b\nc", "d", "e"}}, "packer build tpl-x: exit code 1: b c; d; e"},
		{BuildError{Name: "tpl-x", ExitCode: 2, Tail: "\n\none\ntwo\n"}, "packer build tpl-x: exit code 2; last output: one | two"},
		{BuildError{Name: "tpl-x", ExitCode: 2}, "packer build tpl-x: exit code 2"},
		{BuildError{Name: "tpl-x", TimedOut: true, Timeout: 2 * time.Hour, Errors: []string{"x"}, Tail: "l1\nl2\nl3\nl4\n", Err: cause},
			"packer build tpl-x: timed out after 2h0m0s; last output: l2 | l3 | l4"},
		{BuildError{Name: "tpl-x", Canceled: true, Killed: true, ExitCode: 137}, "packer build tpl-x: canceled (killed after the grace period)"},
		{BuildError{Name: "tpl-x", ExitCode: 1, Tail: strings.Repeat("z", 5000)}, "packer build tpl-x: exit code 1; last output: ..." + strings.Repeat("z", 1024)},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q\nwant      %q", got, tc.want)
		}
	}
	be := &BuildError{Err: cause}
	if !errors.Is(be, cause) {
		t.Error("Unwrap does not reach the cause")
	}
}

func TestRedactor(t *testing.T) {
	r := redactor(map[string]string{
		"PROXMOX_TOKEN":        "abcdefgh",
		"PKR_VAR_token_secret": "abcdefghijkl", // longer, containing the other: replaced first
		"PROXMOX_URL":          "https://127.0.0.1:8006",
		"PKR_VAR_ssh_key":      "xyz", // too short to redact
		"PROXMOX_TOKEN_ID":     "templated@pve!build",
	})
	got := r.String("t=abcdefghijkl u=https://127.0.0.1:8006 k=xyz s=abcdefgh id=templated@pve!build")
	want := "t=[redacted PKR_VAR_token_secret] u=https://127.0.0.1:8006 k=xyz s=[redacted PROXMOX_TOKEN] id=templated@pve!build"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if redactor(map[string]string{"PROXMOX_URL": "https://x"}) != nil {
		t.Error("redactor for no secrets is not nil")
	}
}

func TestReadManifest(t *testing.T) {
	m, err := ReadManifest("testdata/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Builds) != 3 || m.Builds[1].Files[0] != (ManifestFile{Name: "disk.qcow2", Size: 1024}) {
		t.Errorf("manifest = %+v", m)
	}
	last, ok := m.Last()
	if !ok || last.ArtifactID != "9902" || last.CustomData["template"] != "tpl-ubuntu-22.04" || !last.Time().Equal(time.Unix(1795696780, 0)) {
		t.Errorf("Last = %+v, %v", last, ok)
	}
	if _, ok := (Manifest{Builds: m.Builds, LastRunUUID: "gone"}).Last(); ok {
		t.Error("Last found a build for a run that is not in the manifest")
	}
	if (ManifestBuild{}).Time() != (time.Time{}) {
		t.Error("stripped build time is not the zero time")
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte("{"), 0o600)
	if _, err := ReadManifest(bad); err == nil || !strings.Contains(err.Error(), "parse packer manifest") {
		t.Errorf("ReadManifest(bad) = %v", err)
	}
	if _, err := ReadManifest(filepath.Join(t.TempDir(), "none.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadManifest(missing) = %v", err)
	}
}

func TestVersionAndPlugins(t *testing.T) {
	for mode, want := range map[string]string{"version": "1.11.2", "version-human": "1.9.4"} {
		r := fakeRunner(t)
		r.Env = append(r.Env, "FAKE_PACKER="+mode)
		v, err := r.Version(testCtx(t))
		if err != nil || v != want {
			t.Errorf("%s: Version = %q, %v; want %q", mode, v, err, want)
		}
	}
	r := fakeRunner(t)
	r.Env = append(r.Env, "FAKE_PACKER=plugins")
	plugins, err := r.PluginVersions(testCtx(t))
	want := []Plugin{{Source: "github.com/hashicorp/proxmox", Name: "proxmox", Version: "1.1.1", APIVersion: "5.0",
		Path: "/home/x/.config/packer/plugins/github.com/hashicorp/proxmox/packer-plugin-proxmox_v1.1.1_x5.0_linux_amd64"}}
	if err != nil || !slices.Equal(plugins, want) {
		t.Errorf("PluginVersions = %+v, %v\nwant %+v", plugins, err, want)
	}
	r = fakeRunner(t)
	r.Env = append(r.Env, "FAKE_PACKER=fail")
	if _, err := r.Version(testCtx(t)); err == nil || !strings.Contains(err.Error(), "packer version: exit code 1") {
		t.Errorf("Version of a failing packer = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := fakeRunner(t).Version(ctx); err == nil {
		t.Error("Version with a canceled context succeeded")
	}
}
