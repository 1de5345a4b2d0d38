package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseLifetime reads a lifetime as wrangler does: a number of seconds, or a
// human duration such as 90s, 30m, 48h, 7d or 2w. It returns seconds.
func parseLifetime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	units := map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour}
	for suffix, unit := range units {
		if n, err := strconv.ParseFloat(strings.TrimSuffix(s, suffix), 64); err == nil && strings.HasSuffix(s, suffix) && n > 0 {
			secs := n * unit.Seconds()
			if secs >= math.MaxInt64 || math.IsInf(secs, 0) {
				// Converted, it would wrap to a negative number.
				return 0, fmt.Errorf("%q is too long a lifetime; for none, use -1 (issue) or none (update)", s)
			}
			return int64(secs), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("%q is not a lifetime: use seconds or a duration such as 30m, 48h, 7d", s)
	}
	return int64(d / time.Second), nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
