package gitsource

import (
	"fmt"
	"strings"
	"time"
)

// parseSSHTime reads ssh-keygen's YYYYMMDD[HHMM[SS]] with an optional Z or
// UTC suffix; without one it is local time (misc.c parse_absolute_time).
func parseSSHTime(s string) (time.Time, error) {
	loc, digits := time.Local, s
	for _, suf := range []string{"Z", "UTC"} {
		if len(s) > len(suf) && strings.EqualFold(s[len(s)-len(suf):], suf) {
			loc, digits = time.UTC, s[:len(s)-len(suf)]
			break
		}
	}
	layouts := map[int]string{8: "20060102", 12: "200601021504", 14: "20060102150405"}
	layout, ok := layouts[len(digits)]
	if !ok || strings.Trim(digits, "0123456789") != "" {
		return time.Time{}, fmt.Errorf("time %q: want YYYYMMDD[HHMM[SS]][Z]", s)
	}
	t, err := time.ParseInLocation(layout, digits, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", s, err)
	}
	return t, nil
}

// matchPatternList reports whether s matches an OpenSSH pattern-list
// (match.c match_pattern_list): comma-separated patterns with * and ?, a
// leading ! negates, and any matching negated pattern rejects.
func matchPatternList(s, list string) bool {
	ok := false
	for _, p := range strings.Split(list, ",") {
		neg := strings.HasPrefix(p, "!")
		if !matchPattern(s, strings.TrimPrefix(p, "!")) {
			continue
		}
		if neg {
			return false
		}
		ok = true
	}
	return ok
}

func matchPattern(s, p string) bool {
	for p != "" {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if matchPattern(s[i:], p[1:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
		}
		s, p = s[1:], p[1:]
	}
	return s == ""
}
