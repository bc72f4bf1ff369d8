package api

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestSharedReadsFresh: requests that arrive while a key is being read wait for one next read,
// which begins after every one of them arrived; a request alone reads alone; other keys are
// read on their own.
func TestSharedReadsFresh(t *testing.T) {
	sr := newSharedReads[int64]()
	var clock, reads atomic.Int64
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	read := func(context.Context) (int64, error) {
		n := reads.Add(1)
		at := clock.Add(1)
		if n == 1 {
			started <- struct{}{}
			<-gate // the first read lasts until the others wait
		}
		return at, nil
	}
	ctx := context.Background()

	type answer struct{ asked, readAt int64 }
	answers := make(chan answer, 8)
	ask := func() {
		asked := clock.Add(1)
		at, err := sr.do(ctx, "cmp_a", read)
		if err != nil {
			t.Error(err)
		}
		answers <- answer{asked, at}
	}
	go ask()
	<-started
	const waiting = 5
	var wg sync.WaitGroup
	for range waiting {
		wg.Go(ask)
	}
	// Once all five wait in the next round, the first read may end.
	for {
		sr.mu.Lock()
		k := sr.keys["cmp_a"]
		joined := k != nil && k.next != nil && k.next.members == waiting
		sr.mu.Unlock()
		if joined {
			break
		}
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	for range waiting + 1 {
		a := <-answers
		if a.readAt <= a.asked {
			t.Errorf("a request asked at %d got a read begun at %d, before it asked", a.asked, a.readAt)
		}
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("%d reads for six requests, five of them waiting together; want 2", n)
	}

	// Nothing runs now: the next request reads for itself, and another key is its own.
	for _, key := range []string{"cmp_a", "cmp_b"} {
		asked := clock.Add(1)
		if at, err := sr.do(ctx, key, read); err != nil || at <= asked {
			t.Errorf("%s alone: read at %d, asked at %d, %v", key, at, asked, err)
		}
	}
	if n := reads.Load(); n != 4 {
		t.Errorf("%d reads in all, want 4", n)
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if len(sr.keys) != 0 {
		t.Errorf("%d keys kept after every read ended", len(sr.keys))
	}
}
