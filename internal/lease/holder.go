package lease

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	// Name is the lease guest's name.
	Name = "templated-lease"
	// Tag marks the lease guest.
	Tag = "templated-lease"

	header = "templated cluster lease: while it is live, no other templated installation acts on this cluster."
)

// Holder is who holds a lease and until when, as the lease guest's
// description carries it.
type Holder struct {
	Installation string // stable installation id
	Host         string
	PID          int
	ID           string // random per Acquire: tells two holds of one installation apart
	Acquired     time.Time
	Expires      time.Time
}

// Description is the lease guest's description: a fixed first line, then
// "key: value" lines (times in RFC 3339, UTC):
//
//	templated cluster lease: while it is live, no other templated installation acts on this cluster.
//	installation: 3f9c2a…
//	host: ctl1
//	pid: 4242
//	lease-id: 9b1e7c0d5a2f4e61
//	acquired: 2026-11-26T12:03:04Z
//	expires: 2026-11-26T12:05:04Z
func (h Holder) Description() string {
	return strings.Join([]string{header,
		"installation: " + h.Installation,
		"host: " + h.Host,
		"pid: " + strconv.Itoa(h.PID),
		"lease-id: " + h.ID,
		"acquired: " + h.Acquired.UTC().Format(time.RFC3339),
		"expires: " + h.Expires.UTC().Format(time.RFC3339),
	}, "\n")
}

// String names the holder for people: `installation X on host H (pid P)
// until T`.
func (h Holder) String() string {
	return fmt.Sprintf("installation %s on host %s (pid %d) until %s",
		h.Installation, h.Host, h.PID, h.Expires.UTC().Format(time.RFC3339))
}

// Expired reports whether the lease has run out at now.
func (h Holder) Expired(now time.Time) bool { return !now.Before(h.Expires) }

var descLine = regexp.MustCompile(`^([a-z-]+): (.*)$`)

// ParseHolder reads a description written by Holder.Description. ok is
// false when it is not a lease's (a missing expiry counts as not a
// lease's).
func ParseHolder(desc string) (h Holder, ok bool) {
	lines := strings.Split(strings.ReplaceAll(desc, "\r\n", "\n"), "\n")
	if strings.TrimSpace(lines[0]) != header {
		return Holder{}, false
	}
	for _, l := range lines[1:] {
		m := descLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		switch v := m[2]; m[1] {
		case "installation":
			h.Installation = v
		case "host":
			h.Host = v
		case "pid":
			h.PID, _ = strconv.Atoi(v)
		case "lease-id":
			h.ID = v
		case "acquired":
			h.Acquired, _ = time.Parse(time.RFC3339, v)
		case "expires":
			h.Expires, _ = time.Parse(time.RFC3339, v)
		}
	}
	return h, !h.Expires.IsZero()
}
