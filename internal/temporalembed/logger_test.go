package temporalembed

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

func TestServerLogger(t *testing.T) {
	var buf bytes.Buffer
	l := newServerLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), slog.LevelWarn)

	l.Debug("debug line")
	l.Info("info line", tag.NewStringTag("k", "v"))
	l.Warn("HTTP API port has not been set. Nexus HTTP endpoints will not be available.")
	log.With(l, tag.NewStringTag("service", "history")).Warn("warn line", tag.Error(errors.New("boom")))
	l.Error("error line", tag.NewInt("shard", 1))
	out := buf.String()
	for _, unwanted := range []string{"debug line", "info line", "HTTP API"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("log contains %q:\n%s", unwanted, out)
		}
	}
	for _, want := range []string{
		`level=WARN msg="warn line" component=temporal service=history error=boom`,
		`level=ERROR msg="error line" component=temporal shard=1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}

	buf.Reset()
	var err error
	func() {
		defer recoverFatal(&err)
		l.Fatal("Failed to start gRPC listener", tag.Address("127.0.0.1:1"))
	}()
	if err == nil || !strings.Contains(err.Error(), "Failed to start gRPC listener address=127.0.0.1:1") {
		t.Errorf("recovered Fatal = %v", err)
	}

	buf.Reset()
	l.silence()
	l.Error("after stop")
	if buf.Len() != 0 {
		t.Errorf("silenced logger wrote %q", buf.String())
	}
}
