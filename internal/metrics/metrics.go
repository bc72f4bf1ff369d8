// Package metrics provides otpatch's Prometheus metrics: campaign and asset gauges computed
// from the database at scrape time, stage durations observed by a Temporal worker
// interceptor (so neither workflow nor activity code carries instrumentation), upload bytes
// counted by an HTTP middleware, audit append latency timed by gorm callbacks, refused
// authentications and rate-limited requests counted by the API, and the
// Temporal SDK's own metrics through a client.MetricsHandler backed by Prometheus.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Set is one process's metrics.
type Set struct {
	reg *prometheus.Registry
	// SDK receives the Temporal SDK's metrics (client.Options.MetricsHandler = SDK.Handler()).
	SDK *SDK
	// Stage is otpatch_stage_duration_seconds{stage,outcome}.
	Stage *prometheus.HistogramVec
	// Upload is otpatch_upload_bytes_total.
	Upload prometheus.Counter
	// AuditAppend is otpatch_audit_append_seconds.
	AuditAppend prometheus.Histogram
	// Refused is otpatch_auth_refused_total{reason}.
	Refused *prometheus.CounterVec
	// Limited is otpatch_rate_limited_total{limit}.
	Limited *prometheus.CounterVec
}

// New makes a Set with the Go runtime and process collectors registered.
func New() *Set {
	s := &Set{
		reg: prometheus.NewRegistry(),
		SDK: NewSDK(),
		Stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "otpatch_stage_duration_seconds",
			Help:    "Duration of one execution of a campaign stage's activity (qualify, backup, deploy, verify, restore), by outcome.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"stage", "outcome"}),
		Upload: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "otpatch_upload_bytes_total",
			Help: "Bytes of patch submissions received through the API.",
		}),
		AuditAppend: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "otpatch_audit_append_seconds",
			Help:    "Time to write one audit event row into the log (the INSERT, made while the log's head is locked).",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
		}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpatch_auth_refused_total",
			Help: "Refused authentications by reason (missing_token, bad_token, bad_session, ended_session, bad_sign_in, agent_token_sign_in, bad_agent_token), throttled ones included. The audit trail holds them as one event per source address and minute.",
		}, []string{"reason"}),
		Limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "otpatch_rate_limited_total",
			Help: "Requests answered 429 by the limit they exceeded: auth_failures (failed authentications per source address) or writes (changes per identity).",
		}, []string{"limit"}),
	}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		s.SDK, s.Stage, s.Upload, s.AuditAppend, s.Refused, s.Limited)
	return s
}

// AuthRefused counts one refused authentication.
func (s *Set) AuthRefused(reason string) { s.Refused.WithLabelValues(reason).Inc() }

// RateLimited counts one request answered 429 by limit.
func (s *Set) RateLimited(limit string) { s.Limited.WithLabelValues(limit).Inc() }

// Register adds a collector (for example Database) to the set.
func (s *Set) Register(c prometheus.Collector) error { return s.reg.Register(c) }

// Handler serves the set in the Prometheus exposition format.
func (s *Set) Handler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg})
}
