package state

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-version"
	"github.com/robfig/cron/v3"
)

// VMID limits, as Proxmox VE accepts them.
const (
	MinVMID = 100
	MaxVMID = 999999999
)

// String formats r as "first-last", the way the desired file writes it.
func (r Range) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// Len is the number of VMIDs in r.
func (r Range) Len() int { return r.Last - r.First + 1 }

var rangeSyntax = regexp.MustCompile(`^([0-9]{1,10})-([0-9]{1,10})$`)

// parseRange parses "first-last".
func parseRange(s string) (Range, error) {
	m := rangeSyntax.FindStringSubmatch(s)
	if m == nil {
		return Range{}, fmt.Errorf("%s is not a VMID range; write FIRST-LAST, e.g. 9000-9199", quote(s))
	}
	first, _ := strconv.Atoi(m[1])
	last, _ := strconv.Atoi(m[2])
	r := Range{First: first, Last: last}
	switch {
	case first < MinVMID || last > MaxVMID:
		return Range{}, fmt.Errorf("%s is outside the VMIDs Proxmox allows (%d-%d)", r, MinVMID, MaxVMID)
	case first > last:
		return Range{}, fmt.Errorf("%s is empty: its first VMID is above its last", r)
	}
	return r, nil
}

var diskSyntax = regexp.MustCompile(`^([1-9][0-9]{0,9})([GT])$`)

// parseDisk parses a disk size ("20G", "1T") into GiB.
func parseDisk(s string) (int, error) {
	m := diskSyntax.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%s is not a disk size; write a whole number of GiB or TiB, e.g. 20G or 1T", quote(s))
	}
	n, _ := strconv.Atoi(m[1])
	if m[2] == "T" {
		n *= 1024
	}
	if n > maxDiskGB {
		return 0, fmt.Errorf("%s is larger than %dG", s, maxDiskGB)
	}
	return n, nil
}

// Proxmox's formats for node names (pve-node) and storage IDs
// (pve-storage-id).
var (
	nodeName  = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)
	storageID = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9]$`)
)

// Descriptions of the formats above, for messages.
const (
	nodeNameFormat  = "a Proxmox node name (letters, digits and inner hyphens)"
	storageIDFormat = "a Proxmox storage ID (a letter, then letters, digits, '-', '_' or '.')"
)

// mustMatch reports s as not being what unless re matches it.
func mustMatch(re *regexp.Regexp, s, what string) error {
	if !re.MatchString(s) {
		return fmt.Errorf("%s is not %s", quote(s), what)
	}
	return nil
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// neverBefore is where parseCron starts looking for a schedule's first tick.
var neverBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// parseCron parses a 5-field cron expression or descriptor (@monthly) to
// run in loc (nil: UTC, for checking only).
func parseCron(spec string, loc *time.Location) (sched cron.Schedule, err error) {
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, errors.New("set the time zone with timezone, not inside the cron expression")
	}
	if strings.HasPrefix(spec, "@every") {
		return nil, errors.New("@every is not a calendar schedule; use max_age for an age limit")
	}
	defer func() {
		if recover() != nil {
			sched, err = nil, fmt.Errorf("invalid cron expression %s", quote(spec))
		}
	}()
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("invalid cron expression %s: %v", quote(spec), err)
	}
	ss, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("invalid cron expression %s", quote(spec))
	}
	if loc == nil {
		loc = time.UTC
	}
	ss.Location = loc
	if ss.Next(neverBefore).IsZero() {
		return nil, fmt.Errorf("cron expression %s never fires", quote(spec))
	}
	return ss, nil
}

// loadLocation loads an IANA time zone, refusing the machine's own.
func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("%s is not a time zone name; use an IANA name such as Europe/London or UTC", quote(name))
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %s; use an IANA name such as Europe/London or UTC", quote(name))
	}
	return loc, nil
}

// strictSemver is SemVer 2.0.0 in lower case: the release is stamped in a
// PVE tag, and PVE stores tags in lower case, so "1.0.0-RC1" would read
// back as another version.
var strictSemver = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)` +
	`(-(0|[1-9][0-9]*|[0-9]*[a-z-][0-9a-z-]*)(\.(0|[1-9][0-9]*|[0-9]*[a-z-][0-9a-z-]*))*)?` +
	`(\+[0-9a-z-]+(\.[0-9a-z-]+)*)?$`)

// parseRelease parses a strict semantic version (MAJOR.MINOR.PATCH with
// optional pre-release and build metadata, no "v").
func parseRelease(s string) (*version.Version, error) {
	bad := fmt.Errorf("%s is not a semantic version; write MAJOR.MINOR.PATCH, e.g. 1.0.0", quote(s))
	if lower := strings.ToLower(s); lower != s && strictSemver.MatchString(lower) {
		return nil, fmt.Errorf("%s must be lower case (Proxmox keeps the stamped release in lower-case tags): write %s", quote(s), quote(lower))
	}
	if len(s) > 128 || !strictSemver.MatchString(s) {
		return nil, bad
	}
	v, err := version.NewSemver(s)
	if err != nil {
		return nil, bad
	}
	return v, nil
}
