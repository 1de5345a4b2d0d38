package node

import (
	"context"
	"log/slog"
	"strconv"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// mochiHandler adapts the node's log handler for mochi's own logs. Mochi
// logs whole packets (a second CONNECT, with its password, among them), so
// packet values are redacted, which keeps tokens out of the logs. Its
// levels are demoted one step: what mochi calls a warning is mostly a
// client's protocol error, routine for a public server.
type mochiHandler struct {
	inner slog.Handler
}

func demote(l slog.Level) slog.Level {
	if l >= slog.LevelError {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

// Enabled reports whether the demoted level is enabled.
func (h mochiHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, demote(l))
}

// Handle logs r demoted, with packet attributes redacted.
func (h mochiHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, demote(r.Level), r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redact(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

// WithAttrs redacts as too.
func (h mochiHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redact(a)
	}
	return mochiHandler{h.inner.WithAttrs(red)}
}

// WithGroup opens a group on the node's handler.
func (h mochiHandler) WithGroup(name string) slog.Handler {
	return mochiHandler{h.inner.WithGroup(name)}
}

// redact replaces packets, wills and connect parameters, which can hold
// passwords and payloads, by their type.
func redact(a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindGroup {
		g := a.Value.Group()
		red := make([]any, len(g))
		for i, ga := range g {
			red[i] = redact(ga)
		}
		return slog.Group(a.Key, red...)
	}
	if a.Value.Kind() != slog.KindAny {
		return a
	}
	switch v := a.Value.Any().(type) {
	case packets.Packet:
		return slog.String(a.Key, "[packet type "+strconv.Itoa(int(v.FixedHeader.Type))+"]")
	case *packets.Packet, packets.ConnectParams, *packets.ConnectParams, mqtt.Will, *mqtt.Will:
		return slog.String(a.Key, "[redacted]")
	}
	return a
}
