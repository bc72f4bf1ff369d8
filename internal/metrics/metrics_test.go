package metrics

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSDKHandler feeds the handler what the Temporal SDK does — one metric name under
// different tag sets, counters, gauges and timers — and scrapes the set.
func TestSDKHandler(t *testing.T) {
	s := New()
	h := s.SDK.Handler()
	h.WithTags(map[string]string{"operation": "StartWorkflowExecution", "namespace": "default"}).Counter("temporal_request").Inc(2)
	h.WithTags(map[string]string{"operation": "PollActivityTaskQueue"}).Counter("temporal_request").Inc(1)
	h.WithTags(map[string]string{"worker-type": "ActivityWorker"}).Gauge("temporal_num_pollers").Update(3)
	tm := h.WithTags(map[string]string{"activity_type": "DeployAsset"}).Timer("temporal_activity_execution_latency")
	tm.Record(30 * time.Millisecond)
	tm.Record(2 * time.Minute)

	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d\n%s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`temporal_request_total{namespace="default",operation="StartWorkflowExecution"} 2`,
		`temporal_request_total{operation="PollActivityTaskQueue"} 1`,
		`temporal_num_pollers{worker_type="ActivityWorker"} 3`,
		`temporal_activity_execution_latency_seconds_bucket{activity_type="DeployAsset",le="0.05"} 1`,
		`temporal_activity_execution_latency_seconds_bucket{activity_type="DeployAsset",le="+Inf"} 2`,
		`temporal_activity_execution_latency_seconds_count{activity_type="DeployAsset"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// TestCountUploads counts what the API handler reads of a patch submission, and nothing
// of other requests.
func TestCountUploads(t *testing.T) {
	s := New()
	h := s.CountUploads(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/api/v1/patches", strings.NewReader(strings.Repeat("x", 1000))))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/api/v1/campaigns", strings.NewReader(strings.Repeat("x", 500))))
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "otpatch_upload_bytes_total 1000\n") {
		t.Errorf("want otpatch_upload_bytes_total 1000:\n%s", grep(rec.Body.String(), "otpatch_upload"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
