package temporalembed

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// fatalError is the panic value raised by serverLogger.Fatal. Start recovers
// it while it constructs and starts the server, so a configuration or port
// problem becomes an error instead of ending the process.
type fatalError struct {
	msg  string
	tags []tag.Tag
}

func (e *fatalError) Error() string {
	s := e.msg
	for _, t := range e.tags {
		s += fmt.Sprintf(" %s=%v", t.Key(), t.Value())
	}
	return s
}

// serverLogger adapts a *slog.Logger to the Temporal server's log.Logger.
// Records below min are dropped before their tags are converted, because the
// server logs a great deal at debug and info level. Once quiet is set (when
// the server is being stopped) only Fatal and Panic still write: shutdown
// makes the server's internal clients report every closed connection.
type serverLogger struct {
	l     *slog.Logger
	min   slog.Level
	quiet *atomic.Bool
}

// droppedWarnings are warnings the embedded setup causes on purpose.
var droppedWarnings = []string{
	// The frontend's HTTP API (and with it Nexus) is left off.
	"HTTP API port has not been set",
}

var (
	_ log.Logger     = (*serverLogger)(nil)
	_ log.WithLogger = (*serverLogger)(nil)
)

// newServerLogger returns a server logger writing records at or above min to
// l, tagged component=temporal.
func newServerLogger(l *slog.Logger, min slog.Level) *serverLogger {
	return &serverLogger{l: l.With(slog.String("component", "temporal")), min: min, quiet: new(atomic.Bool)}
}

// silence drops all further records except Fatal and Panic, from this
// logger and every logger derived from it.
func (s *serverLogger) silence() { s.quiet.Store(true) }

func (s *serverLogger) enabled(level slog.Level) bool {
	return level >= s.min && !s.quiet.Load() && s.l.Enabled(context.Background(), level)
}

func (s *serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	if !s.enabled(level) {
		return
	}
	for _, prefix := range droppedWarnings {
		if level == slog.LevelWarn && strings.HasPrefix(msg, prefix) {
			return
		}
	}
	s.l.LogAttrs(context.Background(), level, msg, tagAttrs(tags)...)
}

func tagAttrs(tags []tag.Tag) []slog.Attr {
	if len(tags) == 0 {
		return nil
	}
	attrs := make([]slog.Attr, 0, len(tags))
	for _, t := range tags {
		if t == nil || t.Key() == tag.LoggingCallAtKey {
			continue
		}
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	return attrs
}

func (s *serverLogger) Debug(msg string, tags ...tag.Tag) { s.log(slog.LevelDebug, msg, tags) }
func (s *serverLogger) Info(msg string, tags ...tag.Tag)  { s.log(slog.LevelInfo, msg, tags) }
func (s *serverLogger) Warn(msg string, tags ...tag.Tag)  { s.log(slog.LevelWarn, msg, tags) }
func (s *serverLogger) Error(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// DPanic logs at error level. The server only panics on DPanic in
// development builds; an embedded server keeps running.
func (s *serverLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// Panic logs at error level and panics, as the interface requires.
func (s *serverLogger) Panic(msg string, tags ...tag.Tag) {
	s.l.LogAttrs(context.Background(), slog.LevelError, msg, tagAttrs(tags)...)
	panic(msg)
}

// Fatal logs at error level and panics with a *fatalError. The server calls
// Fatal when it cannot continue (for example a listener that cannot bind);
// Start turns that panic into an error. Outside Start the panic ends the
// process, like the os.Exit the interface documents.
func (s *serverLogger) Fatal(msg string, tags ...tag.Tag) {
	s.l.LogAttrs(context.Background(), slog.LevelError, msg, tagAttrs(tags)...)
	panic(&fatalError{msg: msg, tags: tags})
}

// With returns a logger that adds tags to every record.
func (s *serverLogger) With(tags ...tag.Tag) log.Logger {
	attrs := tagAttrs(tags)
	args := make([]any, len(attrs))
	for i, a := range attrs {
		args[i] = a
	}
	return &serverLogger{l: s.l.With(args...), min: s.min, quiet: s.quiet}
}

// minLevelHandler drops records below min before passing them on.
type minLevelHandler struct {
	slog.Handler
	min slog.Level
}

func (h minLevelHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= h.min && h.Handler.Enabled(ctx, level)
}

func (h minLevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevelHandler{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

func (h minLevelHandler) WithGroup(name string) slog.Handler {
	return minLevelHandler{Handler: h.Handler.WithGroup(name), min: h.min}
}

// filteredSlog returns l restricted to records at or above min, or a logger
// that discards everything when l is nil.
func filteredSlog(l *slog.Logger, min slog.Level) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(minLevelHandler{Handler: l.Handler(), min: min})
}
