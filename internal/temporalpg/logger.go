package temporalpg

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger passes the server's warnings and errors to a *slog.Logger; debug and info
// records (the server writes many) are dropped before their tags are converted.
type serverLogger struct{ l *slog.Logger }

var _ log.Logger = serverLogger{}

func newLogger(l *slog.Logger) serverLogger {
	return serverLogger{l: l.With(slog.String("component", "temporal"))}
}

func (s serverLogger) write(level slog.Level, msg string, tags []tag.Tag) {
	if !s.l.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(tags))
	for _, t := range tags {
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	s.l.LogAttrs(context.Background(), level, msg, attrs...)
}

func (serverLogger) Debug(string, ...tag.Tag)             {}
func (serverLogger) Info(string, ...tag.Tag)              {}
func (s serverLogger) Warn(msg string, tags ...tag.Tag)   { s.write(slog.LevelWarn, msg, tags) }
func (s serverLogger) Error(msg string, tags ...tag.Tag)  { s.write(slog.LevelError, msg, tags) }
func (s serverLogger) DPanic(msg string, tags ...tag.Tag) { s.write(slog.LevelError, msg, tags) }

// Panic and Fatal panic instead of exiting the process; Start recovers the panic and
// returns it as an error.
func (s serverLogger) Panic(msg string, tags ...tag.Tag) {
	s.write(slog.LevelError, msg, tags)
	panic(fmt.Sprintf("temporal: %s %v", msg, tags))
}

func (s serverLogger) Fatal(msg string, tags ...tag.Tag) {
	s.write(slog.LevelError, msg, tags)
	panic(fmt.Sprintf("temporal: %s %v", msg, tags))
}
