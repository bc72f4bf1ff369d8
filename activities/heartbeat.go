package activities

import (
	"context"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/otpatch/otpatch/internal/adapters"
)

// heartbeat reports liveness every few seconds until stop is called, so a worker that dies
// mid-operation is noticed within the heartbeat timeout. The adapter operation runs in the
// returned context: when the adapter reports that the device stalled (adapters.Stalled), the
// heartbeats stop, so Temporal times the attempt out after the heartbeat timeout and retries it
// (or the workflow rolls back); the stalled operation itself is cancelled locally after twice
// the heartbeat timeout, so it does not hold the worker until the start-to-close timeout.
func heartbeat(ctx context.Context) (context.Context, func()) {
	if !activity.IsActivity(ctx) {
		return ctx, func() {}
	}
	hb := activity.GetInfo(ctx).HeartbeatTimeout
	return runHeartbeats(ctx, heartbeatInterval(hb), 2*hb, func() { activity.RecordHeartbeat(ctx) })
}

// heartbeatInterval is how often to heartbeat for a heartbeat timeout of hb: every 2 s, or
// more often for short timeouts.
func heartbeatInterval(hb time.Duration) time.Duration {
	if hb > 0 && hb/5 < 2*time.Second {
		return max(hb/5, 10*time.Millisecond)
	}
	return 2 * time.Second
}

// runHeartbeats calls record every interval while the adapter does not report a stall, and
// cancels the returned context once a stall lasted giveUp (0: never). After the stop function
// returns, record is not running and is never called again.
func runHeartbeats(ctx context.Context, interval, giveUp time.Duration, record func()) (context.Context, func()) {
	opCtx, cancel := context.WithCancel(ctx)
	var stalledSince atomic.Int64 // unix nanoseconds; 0 while the device makes progress
	opCtx = adapters.WithProgress(opCtx, func(stalled bool) {
		if !stalled {
			stalledSince.Store(0)
		} else {
			stalledSince.CompareAndSwap(0, time.Now().UnixNano())
		}
	})
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-opCtx.Done():
				return
			case <-t.C:
				select {
				case <-done: // stopped while the tick was due: the activity is returning
					return
				default:
				}
				since := stalledSince.Load()
				if since == 0 {
					record()
					continue
				}
				if giveUp > 0 && time.Since(time.Unix(0, since)) >= giveUp {
					cancel()
					return
				}
			}
		}
	}()
	// stop waits for a heartbeat in flight: one sent after the activity returned would fail
	// on its ended context, and the SDK logs a warning for each (one per completed deploy).
	return opCtx, func() { close(done); <-exited; cancel() }
}
