package state

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Day and Week are the units ParseDuration adds to Go's.
const (
	Day  = 24 * time.Hour
	Week = 7 * Day
)

// ParseDuration parses a positive duration as time.ParseDuration does, with
// two more units: d (24h) and w (7d). Units may be mixed ("1w2d", "1d12h",
// "1.5d"); signs are not accepted. "0" parses as zero.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if s[0] == '-' || s[0] == '+' {
		return 0, fmt.Errorf("duration %s must not have a sign", quote(s))
	}
	if s == "0" {
		return 0, nil
	}
	var total time.Duration
	for rest := s; rest != ""; {
		num := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if num < 0 {
			num = len(rest)
		}
		if num == 0 {
			return 0, fmt.Errorf("invalid duration %s: expected a number followed by a unit (s, m, h, d, w)", quote(s))
		}
		unitEnd := strings.IndexFunc(rest[num:], func(r rune) bool { return (r >= '0' && r <= '9') || r == '.' })
		if unitEnd < 0 {
			unitEnd = len(rest) - num
		}
		number, unit := rest[:num], rest[num:num+unitEnd]
		rest = rest[num+unitEnd:]
		d, err := durationTerm(number, unit)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %s: %w", quote(s), err)
		}
		if total > math.MaxInt64-d {
			return 0, fmt.Errorf("invalid duration %s: too long", quote(s))
		}
		total += d
	}
	return total, nil
}

// durationTerm converts one number+unit term.
func durationTerm(number, unit string) (time.Duration, error) {
	scale := time.Duration(1)
	switch unit {
	case "d":
		scale, unit = 24, "h"
	case "w":
		scale, unit = 24*7, "h"
	case "ns", "us", "µs", "μs", "ms", "s", "m", "h":
	case "":
		return 0, fmt.Errorf("missing unit after %s (use s, m, h, d or w)", clip(number))
	default:
		return 0, fmt.Errorf("unknown unit %s (use s, m, h, d or w)", quote(unit))
	}
	if strings.Count(number, ".") > 1 || number == "." {
		return 0, fmt.Errorf("%s is not a number", clip(number))
	}
	d, err := time.ParseDuration(number + unit)
	if err != nil {
		return 0, errors.New("too long")
	}
	if d > math.MaxInt64/scale {
		return 0, errors.New("too long")
	}
	return d * scale, nil
}
