package iamcmd

import (
	"fmt"
	"math"
	"time"
)

// parseDuration parses a positive duration in Go's syntax extended with days
// and weeks: "90d", "2w", "1d12h", "30m", "1h30m".
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%q: expected a number at %q (e.g. 90d, 12h, 1h30m)", s, rest)
		}
		var n int64
		for _, c := range rest[:i] {
			if n > (math.MaxInt64-9)/10 {
				return 0, fmt.Errorf("%q: too large", s)
			}
			n = n*10 + int64(c-'0')
		}
		rest = rest[i:]
		j := 0
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		var unit time.Duration
		switch rest[:j] {
		case "w":
			unit = 7 * 24 * time.Hour
		case "d":
			unit = 24 * time.Hour
		case "h":
			unit = time.Hour
		case "m":
			unit = time.Minute
		case "s":
			unit = time.Second
		case "":
			return 0, fmt.Errorf("%q: missing unit after %d (w, d, h, m, s)", s, n)
		default:
			return 0, fmt.Errorf("%q: unknown unit %q (w, d, h, m, s)", s, rest[:j])
		}
		rest = rest[j:]
		if n > int64(math.MaxInt64/unit) || total > math.MaxInt64-time.Duration(n)*unit {
			return 0, fmt.Errorf("%q: too large", s)
		}
		total += time.Duration(n) * unit
	}
	if total <= 0 {
		return 0, fmt.Errorf("%q: must be positive", s)
	}
	return total, nil
}

// parseTime parses a --since/--until value: a duration back from now ("1h",
// "7d"), an RFC 3339 time, or a local date or date and time.
func parseTime(s string, now time.Time) (time.Time, error) {
	if d, err := parseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{time.DateOnly, "2006-01-02 15:04", time.DateTime} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration back from now (30m, 1h, 7d, 2w) nor a time (2026-03-01, 2026-03-01 15:04, 2026-03-01T15:04:05Z)", s)
}
