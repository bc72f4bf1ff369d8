package metrics

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// sdkBuckets are the histogram buckets of the SDK's timers, in seconds.
var sdkBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// SDK collects the Temporal SDK's metrics (temporal_request, temporal_workflow_task_*,
// temporal_activity_*, …): counters, gauges, and timers as histograms named *_seconds. The
// SDK tags one metric name with different tag sets as it goes, so samples are kept per name
// and tag set and exposed at scrape time.
type SDK struct {
	mu      sync.Mutex
	samples map[string]*sdkSample
}

type sdkSample struct {
	kind   prometheus.ValueType // CounterValue, GaugeValue, or UntypedValue for a histogram
	name   string
	labels map[string]string
	value  float64
	count  uint64
	sum    float64
	bucket []uint64
}

var _ prometheus.Collector = (*SDK)(nil)

// NewSDK returns an empty collector.
func NewSDK() *SDK { return &SDK{samples: map[string]*sdkSample{}} }

// Handler returns the client.MetricsHandler to put in client.Options.MetricsHandler.
func (s *SDK) Handler() client.MetricsHandler { return sdkHandler{sdk: s} }

func (s *SDK) sample(kind prometheus.ValueType, name string, labels map[string]string) *sdkSample {
	keys := slices.Sorted(maps.Keys(labels))
	var b strings.Builder
	b.WriteString(name)
	for _, k := range keys {
		b.WriteString("\x00" + k + "=" + labels[k])
	}
	key := b.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.samples[key]
	if x == nil {
		x = &sdkSample{kind: kind, name: name, labels: labels}
		if kind == prometheus.UntypedValue {
			x.bucket = make([]uint64, len(sdkBuckets))
		}
		s.samples[key] = x
	}
	return x
}

func (s *SDK) update(x *sdkSample, fn func(*sdkSample)) {
	s.mu.Lock()
	fn(x)
	s.mu.Unlock()
}

// Describe sends nothing: the SDK's metric names are known only once it emits them, which
// makes this an unchecked collector.
func (s *SDK) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (s *SDK) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.samples {
		keys := slices.Sorted(maps.Keys(x.labels))
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = x.labels[k]
		}
		switch x.kind {
		case prometheus.UntypedValue:
			desc := prometheus.NewDesc(x.name+"_seconds", "Temporal SDK timer "+x.name+".", keys, nil)
			buckets := make(map[float64]uint64, len(sdkBuckets))
			cum := uint64(0)
			for i, le := range sdkBuckets {
				cum += x.bucket[i]
				buckets[le] = cum
			}
			if m, err := prometheus.NewConstHistogram(desc, x.count, x.sum, buckets, vals...); err == nil {
				ch <- m
			}
		default:
			name := x.name
			if x.kind == prometheus.CounterValue && !strings.HasSuffix(name, "_total") {
				name += "_total"
			}
			desc := prometheus.NewDesc(name, "Temporal SDK metric "+x.name+".", keys, nil)
			if m, err := prometheus.NewConstMetric(desc, x.kind, x.value, vals...); err == nil {
				ch <- m
			}
		}
	}
}

type sdkHandler struct {
	sdk  *SDK
	tags map[string]string
}

func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := maps.Clone(h.tags)
	if merged == nil {
		merged = map[string]string{}
	}
	for k, v := range tags {
		merged[sanitize(k)] = v
	}
	return sdkHandler{sdk: h.sdk, tags: merged}
}

func (h sdkHandler) Counter(name string) client.MetricsCounter {
	x := h.sdk.sample(prometheus.CounterValue, sanitize(name), h.tags)
	return counterFunc(func(d int64) { h.sdk.update(x, func(x *sdkSample) { x.value += float64(d) }) })
}

func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	x := h.sdk.sample(prometheus.GaugeValue, sanitize(name), h.tags)
	return gaugeFunc(func(v float64) { h.sdk.update(x, func(x *sdkSample) { x.value = v }) })
}

func (h sdkHandler) Timer(name string) client.MetricsTimer {
	x := h.sdk.sample(prometheus.UntypedValue, sanitize(name), h.tags)
	return timerFunc(func(d time.Duration) {
		sec := d.Seconds()
		h.sdk.update(x, func(x *sdkSample) {
			x.count++
			x.sum += sec
			for i, le := range sdkBuckets {
				if sec <= le {
					x.bucket[i]++
					break
				}
			}
		})
	})
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

// sanitize makes a metric or label name valid for Prometheus.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == ':' {
			return r
		}
		return '_'
	}, s)
}
