package main

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// flagValue is a flag's value as both the standard library's flag package
// and pflag take it.
type flagValue interface {
	String() string
	Set(string) error
	Type() string
}

// settings defines a command's flags, each with its environment variable,
// and collects every environment value that does not parse: a server must
// refuse nonsense at start instead of quietly running on a default.
type settings struct {
	register func(v flagValue, name, usage string)
	vars     []envVar
	errs     []error
}

// envVar is one environment variable a command reads, for help and tests.
type envVar struct{ Name, Type string }

// err returns every bad environment value as one usage error, or nil.
func (s *settings) err() error {
	if len(s.errs) == 0 {
		return nil
	}
	msgs := make([]string, len(s.errs))
	for i, e := range s.errs {
		msgs[i] = e.Error()
	}
	return usageError{strings.Join(msgs, "\n")}
}

// typedValue is a flag value of type T with its parser.
type typedValue[T any] struct {
	p      *T
	parse  func(string) (T, error)
	format func(T) string
	typ    string
	isBool bool
}

func (v *typedValue[T]) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return v.format(*v.p)
}

func (v *typedValue[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.p = x
	return nil
}

func (v *typedValue[T]) Type() string { return v.typ }

// IsBoolFlag lets a boolean flag stand alone (--flag for --flag=true).
func (v *typedValue[T]) IsBoolFlag() bool { return v != nil && v.isBool }

// define registers a flag named name whose default is def, or the value of
// the environment variable env when that is set and not empty.
func define[T any](s *settings, name, env string, def T, usage, typ string, parse func(string) (T, error), format func(T) string) *T {
	p := new(T)
	*p = def
	v := &typedValue[T]{p: p, parse: parse, format: format, typ: typ, isBool: typ == "bool"}
	if env != "" {
		if raw, ok := os.LookupEnv(env); ok && raw != "" {
			if err := v.Set(raw); err != nil {
				s.errs = append(s.errs, fmt.Errorf("%s=%q: %v", env, raw, err))
			}
		}
		usage += " (" + env + ")"
		s.vars = append(s.vars, envVar{Name: env, Type: typ})
	}
	s.register(v, name, usage)
	return p
}

func (s *settings) String(name, env, def, usage string) *string {
	return define(s, name, env, def, usage, "string", func(v string) (string, error) { return v, nil }, func(v string) string { return v })
}

func (s *settings) Int(name, env string, def int, usage string) *int {
	return define(s, name, env, def, usage, "int", parseInt[int], strconv.Itoa)
}

// IntRange registers an integer flag that must lie in [lo, hi].
func (s *settings) IntRange(name, env string, def, lo, hi int, usage string) *int {
	return defineRange(s, name, env, def, lo, hi, usage, "int", parseInt[int], strconv.Itoa)
}

// defineRange is define for a value that must lie in [lo, hi]: the range
// goes into the flag's help and into the error for a value outside it,
// written in the flag's own notation (show).
func defineRange[T cmp.Ordered](s *settings, name, env string, def, lo, hi T, usage, typ string, parse func(string) (T, error), show func(T) string) *T {
	usage += "; " + show(lo) + " to " + show(hi)
	return define(s, name, env, def, usage, typ, func(v string) (T, error) {
		n, err := parse(v)
		if err == nil && (n < lo || n > hi) {
			err = fmt.Errorf("out of range (%s to %s)", show(lo), show(hi))
		}
		return n, err
	}, show)
}

func formatInt64(v int64) string     { return strconv.FormatInt(v, 10) }
func formatUint32(v uint32) string   { return strconv.FormatUint(uint64(v), 10) }
func formatUint16(v uint16) string   { return strconv.FormatUint(uint64(v), 10) }
func formatFloat64(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func (s *settings) Int64(name, env string, def int64, usage string) *int64 {
	return define(s, name, env, def, usage, "int", parseInt[int64], formatInt64)
}

// Int64Range registers an integer flag that must lie in [lo, hi].
func (s *settings) Int64Range(name, env string, def, lo, hi int64, usage string) *int64 {
	return defineRange(s, name, env, def, lo, hi, usage, "int", parseInt[int64], formatInt64)
}

func (s *settings) Uint32(name, env string, def uint32, usage string) *uint32 {
	return define(s, name, env, def, usage, "uint", parseUint[uint32], formatUint32)
}

// Uint32Range registers an unsigned flag that must lie in [lo, hi].
func (s *settings) Uint32Range(name, env string, def, lo, hi uint32, usage string) *uint32 {
	return defineRange(s, name, env, def, lo, hi, usage, "uint", parseUint[uint32], formatUint32)
}

func (s *settings) Uint16(name, env string, def uint16, usage string) *uint16 {
	return define(s, name, env, def, usage, "uint", parseUint[uint16], formatUint16)
}

func (s *settings) Float64(name, env string, def float64, usage string) *float64 {
	return define(s, name, env, def, usage, "float", parseFloat, formatFloat64)
}

// Float64Range registers a number flag that must lie in [lo, hi].
func (s *settings) Float64Range(name, env string, def, lo, hi float64, usage string) *float64 {
	return defineRange(s, name, env, def, lo, hi, usage, "float", parseFloat, formatFloat64)
}

func parseFloat(v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) {
		return 0, errors.New("not a number")
	}
	return f, nil
}

func (s *settings) Duration(name, env string, def time.Duration, usage string) *time.Duration {
	return define(s, name, env, def, usage, "duration", parseDuration, time.Duration.String)
}

// DurationRange registers a duration flag that must lie in [lo, hi].
func (s *settings) DurationRange(name, env string, def, lo, hi time.Duration, usage string) *time.Duration {
	return defineRange(s, name, env, def, lo, hi, usage, "duration", parseDuration, time.Duration.String)
}

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, errors.New("not a duration: use a number with a unit, such as 500ms, 30s or 5m")
	}
	return d, nil
}

// Bool registers a boolean flag; with pflag its NoOptDefVal must be set by
// the caller's register function.
func (s *settings) Bool(name, env string, def bool, usage string) *bool {
	return define(s, name, env, def, usage, "bool", func(v string) (bool, error) {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return false, errors.New("not a boolean: use true or false")
		}
		return b, nil
	}, strconv.FormatBool)
}

// Choice registers a string flag that takes one of choices, in any case.
func (s *settings) Choice(name, env, def string, choices []string, usage string) *string {
	return define(s, name, env, def, usage, "string", func(v string) (string, error) {
		for _, c := range choices {
			if strings.EqualFold(strings.TrimSpace(v), c) {
				return c, nil
			}
		}
		return "", fmt.Errorf("want one of %s", strings.Join(choices, ", "))
	}, func(v string) string { return v })
}

// Addrs registers a repeatable list flag (values may also be
// comma-separated). The default, or the environment variable's list, is
// replaced by the first value given on the command line.
func (s *settings) Addrs(name, env, def, usage string) *[]string {
	a := &listValue{vals: splitList(def)}
	if env != "" {
		if raw, ok := os.LookupEnv(env); ok && raw != "" {
			a.vals = splitList(raw)
		}
		usage += " (" + env + ", comma-separated)"
		s.vars = append(s.vars, envVar{Name: env, Type: "strings"})
	}
	s.register(a, name, usage)
	return &a.vals
}

// listValue is a repeatable list flag whose first explicit value replaces
// its default.
type listValue struct {
	vals []string
	set  bool
}

func (a *listValue) String() string {
	if a == nil {
		return ""
	}
	return strings.Join(a.vals, ",")
}

func (a *listValue) Set(v string) error {
	if !a.set {
		a.vals, a.set = nil, true
	}
	a.vals = append(a.vals, splitList(v)...)
	return nil
}

func (a *listValue) Type() string { return "strings" }

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

type integer interface{ ~int | ~int64 }

func parseInt[T integer](v string) (T, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, errors.New("out of range")
		}
		return 0, errors.New("not an integer")
	}
	if int64(T(n)) != n {
		return 0, errors.New("out of range")
	}
	return T(n), nil
}

type unsigned interface{ ~uint16 | ~uint32 }

func parseUint[T unsigned](v string) (T, error) {
	var zero T
	bits := 16
	if ^zero > T(1<<16-1) {
		bits = 32
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, bits)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("out of range (0 to %d)", uint64(^zero))
		}
		return 0, errors.New("not a non-negative integer")
	}
	return T(n), nil
}

// logFlags adds --log-level and --log-format and returns a function that
// builds the logger.
func logFlags(s *settings, stderr interface{ Write([]byte) (int, error) }) func() *slog.Logger {
	level := s.Choice("log-level", "PUBSUB_LOG_LEVEL", "info", []string{"debug", "info", "warn", "error"}, "log level: debug, info, warn or error")
	format := s.Choice("log-format", "PUBSUB_LOG_FORMAT", "text", []string{"text", "json"}, "log format: text (logfmt) or json (one object a line)")
	return func() *slog.Logger {
		var l slog.Level
		_ = l.UnmarshalText([]byte(*level)) // checked by Choice
		opts := &slog.HandlerOptions{Level: l}
		if *format == "json" {
			return slog.New(slog.NewJSONHandler(stderr, opts))
		}
		return slog.New(slog.NewTextHandler(stderr, opts))
	}
}
