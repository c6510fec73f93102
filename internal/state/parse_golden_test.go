package state

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the .golden files of the desired-file tests")

// testPackerRoot is the fake Packer workspace the testdata files point into.
const testPackerRoot = "testdata/packer"

// goldenRef is the instant the good-file dumps compute the next patch tick
// from.
var goldenRef = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

// TestBadFiles parses every testdata/bad/*.yaml and compares the complete
// error text with its .golden sibling.
func TestBadFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) < 25 {
		t.Fatalf("found %d bad files, want at least 25", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			d, err := loadFile(t, file, testPackerRoot)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("got (%v, %v), want a *ValidationError", d, err)
			}
			checkGolden(t, file, err.Error()+"\n")
		})
	}
}

// TestGoodFiles parses every testdata/good/*.yaml and compares a dump of the
// result (every template with its defaults applied) with its .golden sibling.
func TestGoodFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.yaml")
	if len(files) == 0 {
		t.Fatal("no good files")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			d, err := loadFile(t, file, testPackerRoot)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, file, dump(d))
		})
	}
}

func checkGolden(t *testing.T, file, got string) {
	t.Helper()
	golden := strings.TrimSuffix(file, ".yaml") + ".golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s--- want\n%s", golden, got, want)
	}
}

// dump renders d for golden files.
func dump(d *Desired) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "version: %d\n", d.Version)
	fmt.Fprintf(&b, "vmids: templates=%s staging=%s previous=%s", d.VMIDs.Templates, d.VMIDs.Staging, d.VMIDs.Previous)
	if d.VMIDs.Bases != (Range{}) {
		fmt.Fprintf(&b, " bases=%s", d.VMIDs.Bases)
	}
	for i, n := range d.VMIDs.ReplicaNodes() {
		sep := ","
		if i == 0 {
			sep = " replicas="
		}
		fmt.Fprintf(&b, "%s%s:%s", sep, n, d.VMIDs.Replicas[n])
	}
	b.WriteString("\n")
	df := d.Defaults
	fmt.Fprintf(&b, "defaults: node=%q storage=%s iso_storage=%s cores=%d memory=%d disk=%dG build=%s max_age=%s patch_schedule=%q timezone=%s keep_previous=%d build_timeout=%s",
		df.Node, df.Storage, df.ISOStorage, df.Cores, df.MemoryMiB, df.DiskGB, df.Build, df.MaxAge, df.PatchSchedule, df.Timezone, df.KeepPrevious, df.BuildTimeout)
	if df.Replicas != nil {
		fmt.Fprintf(&b, " replicas=%v", df.Replicas)
	}
	b.WriteString("\n")
	for _, im := range d.Images {
		fmt.Fprintf(&b, "image %s (line %d)\n", im.Name, im.Line)
		fmt.Fprintf(&b, "  kind=%s format=%q storage=%s nodes=%v\n", im.Kind, im.Format, im.Storage, im.Nodes)
		fmt.Fprintf(&b, "  url=%s\n  checksum=%q checksum_url=%q file=%q\n", im.URL, im.Checksum, im.ChecksumURL, im.File)
	}
	for _, t := range d.Templates {
		fmt.Fprintf(&b, "template %s (line %d)\n", t.Name, t.Line)
		fmt.Fprintf(&b, "  vmid=%d os=%s os_version=%s release=%s packer=%s var_file=%s\n", t.VMID, t.OS, t.OSVersion, t.Release, t.Packer, t.VarFile)
		fmt.Fprintf(&b, "  build=%s node=%s storage=%s iso_storage=%s cores=%d memory=%d disk=%dG\n", t.Build, t.Node, t.Storage, t.ISOStorage, t.Cores, t.MemoryMiB, t.DiskGB)
		next := "none"
		if t.Schedule != nil {
			next = t.Schedule.Next(goldenRef).Format(time.RFC3339)
		}
		fmt.Fprintf(&b, "  max_age=%s patch_schedule=%q timezone=%s next_patch_after_%s=%s keep_previous=%d build_timeout=%s\n",
			t.MaxAge, t.PatchSchedule, t.Location, goldenRef.Format("2006-01-02"), next, t.KeepPrevious, t.BuildTimeout)
		fmt.Fprintf(&b, "  suspended=%t reason=%q\n", t.Suspended, t.SuspendReason)
		if t.Image != "" || len(t.ExtraImages) > 0 {
			fmt.Fprintf(&b, "  image=%q extra_images=%q\n", t.Image, t.ExtraImages)
		}
		for _, r := range t.Replicas {
			fmt.Fprintf(&b, "  replica node=%s vmid=%d name=%s\n", r.Node, r.VMID, r.Name)
		}
	}
	return b.String()
}
