package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/otpatch/otpatch/api"
	"github.com/otpatch/otpatch/internal/metrics"
)

// The API counts refused authentications and rate-limited requests into the set.
var _ api.Counters = (*metrics.Set)(nil)

// withMetrics serves /metrics beside the API and counts the bytes of patch uploads.
// /metrics is unauthenticated, like /healthz and /readyz: scrape it from inside the cluster
// and keep it off the public ingress (deploy/ does).
func withMetrics(m *metrics.Set, api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("/", m.CountUploads(api))
	return mux
}

// serveMetrics serves a worker's /metrics on addr until ctx ends.
func serveMetrics(ctx context.Context, log *slog.Logger, addr string, m *metrics.Set) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) })
	go func() {
		if err := serve(ctx, log, addr, mux, func(url string) { log.Info("metrics listening", "url", url+"/metrics") }); err != nil {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
}

// databaseGauges adds the campaign and asset gauges read from the database at scrape time.
func (d *deps) databaseGauges() {
	if err := d.metrics.Register(metrics.NewDatabase(d.store.DB(), time.Now)); err != nil {
		d.log.Warn("database gauges not registered", "err", err)
	}
}
