package main

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// lifetimeUnits are the units of a lifetime, in seconds: wrangler's words
// and their short forms. A month is 30 days and a year 365 (wrangler 3
// counts 30 and 365 weeks).
var lifetimeUnits = map[string]float64{
	"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
	"m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
	"h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
	"d": 86400, "day": 86400, "days": 86400,
	"w": 7 * 86400, "wk": 7 * 86400, "wks": 7 * 86400, "week": 7 * 86400, "weeks": 7 * 86400,
	"mo": 30 * 86400, "mon": 30 * 86400, "month": 30 * 86400, "months": 30 * 86400,
	"y": 365 * 86400, "yr": 365 * 86400, "yrs": 365 * 86400, "year": 365 * 86400, "years": 365 * 86400,
}

var lifetimeRE = regexp.MustCompile(`^((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]+)$`)

// parseLifetime reads a lifetime as wrangler writes it: a number of
// seconds, a number and a unit (90s, 30m, 48h, 7d, 2w, 1mo, 1y, "6 days",
// "1 year"), or a Go duration such as 1h30m. It returns seconds.
func parseLifetime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if m := lifetimeRE.FindStringSubmatch(s); m != nil {
		if unit, ok := lifetimeUnits[strings.ToLower(m[2])]; ok {
			n, err := strconv.ParseFloat(m[1], 64)
			if err == nil {
				secs := n * unit
				if secs >= math.MaxInt64 || math.IsInf(secs, 0) {
					// Converted, it would wrap to a negative number.
					return 0, fmt.Errorf("%q is too long a lifetime; for none, use -1 (issue) or none (update)", s)
				}
				if secs >= 1 {
					return int64(secs), nil
				}
			}
		}
	} else if f, err := strconv.ParseFloat(s, 64); err == nil && (f >= math.MaxInt64 || math.IsInf(f, 0)) {
		return 0, fmt.Errorf("%q is too long a lifetime; for none, use -1 (issue) or none (update)", s)
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("%q is not a lifetime: use seconds, or a number and a unit such as 30m, 48h, 30d, 1y or \"6 days\"", s)
	}
	return int64(d / time.Second), nil
}

// stringList is a repeatable string flag; every value is kept as given.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
func (l *stringList) Type() string       { return "strings" }
