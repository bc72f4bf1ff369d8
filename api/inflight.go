package api

import (
	"context"
	"sync"
)

// serial runs password checks one at a time per key (a source address, a username), so a
// burst of parallel guesses cannot outrun the failure budget and the lockout, which count a
// failure only once its check is done: each check sees the failures of the ones before it.
type serial struct {
	mu    sync.Mutex
	slots map[string]*slot
}

type slot struct {
	turn  chan struct{}
	users int
}

// acquire waits for key's turn (or ctx's end) and returns what ends it.
func (s *serial) acquire(ctx context.Context, key string) (release func(), err error) {
	s.mu.Lock()
	if s.slots == nil {
		s.slots = map[string]*slot{}
	}
	sl := s.slots[key]
	if sl == nil {
		sl = &slot{turn: make(chan struct{}, 1)}
		s.slots[key] = sl
	}
	sl.users++
	s.mu.Unlock()
	select {
	case sl.turn <- struct{}{}:
		return func() { <-sl.turn; s.leave(key, sl) }, nil
	case <-ctx.Done():
		s.leave(key, sl)
		return nil, ctx.Err()
	}
}

func (s *serial) leave(key string, sl *slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl.users--; sl.users == 0 {
		delete(s.slots, key)
	}
}

// acquireAll takes the turns of keys in order (callers always pass them in the same order:
// source, then username, so two checks never wait on each other in a circle).
func (s *serial) acquireAll(ctx context.Context, keys ...string) (func(), error) {
	var held []func()
	releaseAll := func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i]()
		}
	}
	for _, k := range keys {
		release, err := s.acquire(ctx, k)
		if err != nil {
			releaseAll()
			return nil, err
		}
		held = append(held, release)
	}
	return releaseAll, nil
}
