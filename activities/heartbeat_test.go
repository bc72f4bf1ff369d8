package activities

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpatch/otpatch/internal/adapters"
)

// TestHeartbeatsStopWhenTheAdapterStalls runs the heartbeat loop as DeployAsset and RestoreAsset
// do: it heartbeats while the adapter makes progress, sends no heartbeat once the adapter
// reports a stall (so Temporal times the attempt out after the heartbeat timeout instead of the
// start-to-close timeout), resumes when the adapter progresses again, and cancels the stalled
// operation locally once the stall lasted giveUp.
func TestHeartbeatsStopWhenTheAdapterStalls(t *testing.T) {
	var beats atomic.Int64
	const interval, giveUp = 10 * time.Millisecond, 300 * time.Millisecond
	ctx, stop := runHeartbeats(context.Background(), interval, giveUp, func() { beats.Add(1) })
	defer stop()

	time.Sleep(100 * time.Millisecond)
	if n := beats.Load(); n < 3 {
		t.Fatalf("%d heartbeats while the adapter makes progress, want several", n)
	}
	adapters.Stalled(ctx)
	time.Sleep(2 * interval) // a tick already due may still beat
	before := beats.Load()
	time.Sleep(100 * time.Millisecond)
	if n := beats.Load(); n != before {
		t.Fatalf("%d heartbeats while the adapter reports a stall, want none", n-before)
	}
	if ctx.Err() != nil {
		t.Fatalf("operation cancelled after 100ms of stall, before giveUp (%s)", giveUp)
	}
	adapters.Progressed(ctx)
	time.Sleep(100 * time.Millisecond)
	if n := beats.Load(); n < before+3 {
		t.Fatalf("%d heartbeats after the adapter progressed again, want several", n-before)
	}

	adapters.Stalled(ctx)
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatalf("stalled operation not cancelled %s after the stall", giveUp)
	}
}

// TestHeartbeatInterval keeps the 2 s interval for the workflows' 10 s heartbeat timeout and
// beats more often for shorter ones.
func TestHeartbeatInterval(t *testing.T) {
	for hb, want := range map[time.Duration]time.Duration{0: 2 * time.Second, 10 * time.Second: 2 * time.Second, time.Second: 200 * time.Millisecond, time.Millisecond: 10 * time.Millisecond} {
		if got := heartbeatInterval(hb); got != want {
			t.Errorf("heartbeatInterval(%s) = %s, want %s", hb, got, want)
		}
	}
}

// Stopping waits for a heartbeat in flight and sends none after it returns: the activity
// returns only then, so no heartbeat goes out on its ended context (the SDK warned of one after
// every completed deploy and verify).
func TestNoHeartbeatAfterStop(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var beats, running atomic.Int64
	_, stop := runHeartbeats(context.Background(), time.Millisecond, 0, func() {
		running.Add(1)
		defer running.Add(-1)
		if beats.Add(1) == 1 {
			close(entered)
			<-release // the first heartbeat is in flight until the test releases it
		}
	})
	<-entered
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("stop returned while a heartbeat was in flight")
	default:
	}
	close(release)
	<-stopped
	after := beats.Load()
	if running.Load() != 0 {
		t.Fatal("a heartbeat still runs after stop returned")
	}
	// The ticker would have fired many times by now had the loop not ended.
	for range 3 {
		runtime.Gosched()
	}
	if n := beats.Load(); n != after {
		t.Fatalf("%d heartbeats after stop returned", n-after)
	}
}
