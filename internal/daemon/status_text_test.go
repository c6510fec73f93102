package daemon

import (
	"strings"
	"testing"
	"time"
)

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "0s", 12 * time.Second: "12s", 250 * time.Second: "4m10s",
		2*time.Hour + 5*time.Minute: "2h5m", 76 * time.Hour: "3d4h",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestGitStatusText(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	g := &GitStatus{URL: "https://git.example/org/t.git", Ref: "main", Revision: "0123456789abcdef0123",
		Signer: "alice (SHA256:x)", FetchedAt: now.Add(-3 * time.Minute), LastFetch: now.Add(-time.Minute),
		LastError: "fetch: connection refused\nmore", ConsecutiveFailures: 2,
		Refused: &GitRefusal{Commit: "fedcba9876543210", Code: "unsigned", Detail: "fedcba98 is not signed"}}
	var b strings.Builder
	g.WriteText(&b, now)
	want := "git https://git.example/org/t.git (main): revision 0123456789ab signed by alice (SHA256:x), fetched 3m0s ago\n" +
		"last fetch: FAILED 1m0s ago (2 in a row): fetch: connection refused\n" +
		"refused fedcba987654 (unsigned): fedcba98 is not signed\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	(&GitStatus{URL: "u", Ref: "main"}).WriteText(&b, now)
	if want := "git u (main): no revision accepted yet\nlast fetch: none yet\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
