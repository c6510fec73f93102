package state

import (
	"reflect"
	"regexp"
	"testing"
	"time"
)

func TestStampRoundTrip(t *testing.T) {
	s := Stamp{
		Template: "tpl-ubuntu-22.04", Release: "1.2.0-RC.1", Role: RoleStaging,
		InputsHash: "3f5e9a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddee",
		BuiltAt:    time.Date(2026, 11, 26, 12, 3, 4, 0, time.UTC), BuildID: "b-1", Commit: "abc123",
		Installation: "0f1e2d3c4b5a", Plugin: "1.2.4",
	}
	tags := s.Tags("extra")
	pveTag := regexp.MustCompile(`^[a-z0-9_][a-z0-9_\-+.]*$`)
	for _, tag := range tags {
		if !pveTag.MatchString(tag) {
			t.Errorf("tag %q is not valid PVE tag syntax", tag)
		}
	}
	if !reflect.DeepEqual(tags, NormalizeTags(tags)) {
		t.Errorf("tags %v are not in PVE's normal form", tags)
	}
	got, ok := StampFromTags(tags)
	if !ok || got.Release != "1.2.0-rc.1" || got.InputsHash != s.InputsHash[:12] || !got.BuiltAt.Equal(s.BuiltAt) || got.Role != RoleStaging ||
		got.Installation != s.Installation || got.Plugin != "1.2.4" {
		t.Fatalf("from tags: %+v ok=%v", got, ok)
	}
	if !SameInputs(got.InputsHash, s.InputsHash) || SameInputs(got.InputsHash, "ffff"+s.InputsHash[4:]) {
		t.Error("SameInputs does not compare the tag prefix with the full hash")
	}
	if f := ForeignTags(tags); !reflect.DeepEqual(f, []string{"extra"}) {
		t.Errorf("foreign tags %v, want [extra]", f)
	}
	full, ok := StampFromDescription(s.Description())
	if !ok || !reflect.DeepEqual(full, s) {
		t.Fatalf("from description: %+v, want %+v", full, s)
	}
}

func TestStampNotOwned(t *testing.T) {
	if _, ok := StampFromTags([]string{"golden", "tpl-rel-1.0.0"}); ok {
		t.Error("tags without the owner marker read as owned")
	}
	if _, ok := StampFromDescription("Ubuntu golden image\nbuilt by hand"); ok {
		t.Error("a hand-written description read as a stamp")
	}
	if _, ok := StampFromDescription(""); ok {
		t.Error("an empty description read as a stamp")
	}
}

func TestNormalizeTags(t *testing.T) {
	got := NormalizeTags([]string{"Golden;ubuntu", "b,a golden", ""})
	want := []string{"a", "b", "golden", "ubuntu"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestForeignTagsAndNotes(t *testing.T) {
	s := Stamp{Template: "tpl-a", Release: "1.0.0", InputsHash: "abcdef0123456789", BuiltAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Role: RolePrevious}
	tags := s.Tags("golden", "ubuntu")
	if got := ForeignTags(tags); !reflect.DeepEqual(got, []string{"golden", "ubuntu"}) {
		t.Fatalf("foreign tags = %v", got)
	}
	desc := WithNotes(s.Description(), "Description before adoption:\nhand-built by carol")
	if got := DescriptionNotes(desc); got != "Description before adoption:\nhand-built by carol" {
		t.Fatalf("notes = %q", got)
	}
	if back, ok := StampFromDescription(desc); !ok || back.Release != "1.0.0" {
		t.Fatalf("notes broke the stamp: %+v %v", back, ok)
	}
	if DescriptionNotes("hand-written\n\nmore") != "" || DescriptionNotes(s.Description()) != "" {
		t.Fatal("notes found where there are none")
	}
}

func TestStampMadeBy(t *testing.T) {
	mine := Stamp{Installation: "0f1e2d3c4b5a"}
	if !mine.MadeBy("0f1e2d3c4b5a") || mine.MadeBy("aaaaaaaaaaaa") {
		t.Error("MadeBy does not tell installations apart")
	}
	if !(Stamp{}).MadeBy("aaaaaaaaaaaa") {
		t.Error("a stamp from before installation ids must count as every installation's")
	}
	if got := ForeignTags(mine.Tags("golden")); !reflect.DeepEqual(got, []string{"golden"}) {
		t.Errorf("ForeignTags = %v: the installation tag is templated's own", got)
	}
}
