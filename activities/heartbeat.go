package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
)

// heartbeat reports liveness every few seconds until stop is called, so a worker that dies
// mid-operation is noticed within the heartbeat timeout.
func heartbeat(ctx context.Context) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}
