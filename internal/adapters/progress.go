package adapters

import (
	"context"
	"sync"
)

// An activity that runs a long adapter operation heartbeats to Temporal so that a dead worker
// or a device that stopped answering is noticed within the heartbeat timeout. A goroutine that
// heartbeats on its own would hide a device that hangs, so the activity heartbeats only while
// the adapter does not report a stall: an adapter that knows its device stopped answering
// (no progress from the installer, a session that went silent) calls Stalled, and Progressed
// when the device answers again.

type progressKey struct{}

// WithProgress returns ctx carrying report, which Stalled and Progressed call.
func WithProgress(ctx context.Context, report func(stalled bool)) context.Context {
	return context.WithValue(ctx, progressKey{}, report)
}

// Stalled tells the activity running this operation that the device stopped making progress:
// its heartbeats stop, and Temporal times the attempt out after the heartbeat timeout.
func Stalled(ctx context.Context) { reportProgress(ctx, true) }

// Progressed tells the activity running this operation that the device makes progress again.
func Progressed(ctx context.Context) { reportProgress(ctx, false) }

func reportProgress(ctx context.Context, stalled bool) {
	if report, ok := ctx.Value(progressKey{}).(func(bool)); ok && report != nil {
		report(stalled)
	}
}

// A device's own words — an installer's output, a verify step's answer — belong in the
// deployment log of the asset. An adapter calls Output with each piece it captured; the
// activity running the operation records it (bounded) against the campaign and asset.

type outputKey struct{}

// WithOutput returns ctx carrying record, which Output calls.
func WithOutput(ctx context.Context, record func(stream, text string)) context.Context {
	return context.WithValue(ctx, outputKey{}, record)
}

// Output records text a device printed; stream names where it came from ("install stdout",
// "verify stderr", "agent").
func Output(ctx context.Context, stream, text string) {
	if record, ok := ctx.Value(outputKey{}).(func(string, string)); ok && record != nil && text != "" {
		record(stream, text)
	}
}

// Recorder collects what Output records, by stream: for tests, and wherever a device's output
// is gathered before it is sent on.
type Recorder struct {
	mu  sync.Mutex
	got map[string]string
}

// Record returns ctx carrying r as the output recorder.
func (r *Recorder) Record(ctx context.Context) context.Context {
	return WithOutput(ctx, func(stream, text string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.got == nil {
			r.got = map[string]string{}
		}
		r.got[stream] += text
	})
}

// Get returns everything recorded on stream.
func (r *Recorder) Get(stream string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[stream]
}
