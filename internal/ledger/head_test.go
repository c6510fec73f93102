package ledger

import (
	"testing"
	"time"
)

// TestHead: none before the first entry; then the newest checkpoint, the
// same as the published note, with the time of the entry it ends with;
// the same again after a reopen.
func TestHead(t *testing.T) {
	f := newFixture(t)
	l := f.open(t)
	if _, ok, err := l.Head(); ok || err != nil {
		t.Fatalf("Head of an empty ledger = %v, %v", ok, err)
	}
	mustAppend(t, l, Entry{Kind: KindDesiredRejected, Desired: testDesired, Error: "templates[0].vmid: out of range"})
	mustAppend(t, l, Entry{Kind: KindDecision, Desired: testDesired, Reason: &Reason{Code: "up-to-date"}})
	want := f.now // the clock's time of the second entry
	h, ok, err := l.Head()
	if err != nil || !ok {
		t.Fatalf("Head = %v, %v", ok, err)
	}
	pub, err := OpenCheckpoint(l.Checkpoint(), f.vkey)
	if err != nil {
		t.Fatal(err)
	}
	if h.Size != 2 || h.Checkpoint != pub || !h.At.Equal(want) {
		t.Fatalf("Head = size %d at %s (root equal: %v), want size 2 at %s", h.Size, h.At, h.Root == pub.Root, want)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = f.open(t)
	defer l.Close()
	again, ok, err := l.Head()
	if err != nil || !ok || again != h {
		t.Fatalf("Head after reopening = %+v, %v, %v; want %+v", again, ok, err, h)
	}
	if again.At.Location() != time.UTC {
		t.Errorf("time not in UTC: %s", again.At)
	}
}
