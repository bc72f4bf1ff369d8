// Package activities holds every side effect of otpatch's workflows: qualification of a
// submitted patch, campaign bookkeeping, and backup, deploy, verify and restore of one asset
// through its adapter. Each activity is idempotent: a retry never deploys or restores twice.
package activities

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/notify"
	"github.com/otpatch/otpatch/internal/store"
)

// ObjectStore is what the activities need of the object store.
type ObjectStore interface {
	Put(ctx context.Context, key string, r io.Reader, expect artifacts.Expect, contentType string) (artifacts.Info, error)
	Hash(ctx context.Context, key string) (artifacts.Info, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

var _ ObjectStore = (*artifacts.Store)(nil)

// Activities carries the dependencies every activity uses.
type Activities struct {
	Store    *store.Store
	Objects  ObjectStore
	Adapters map[string]adapters.Target
	Log      *slog.Logger
	Now      func() time.Time
	// Expected is how long backup, deploy and verify take on an asset of an adapter this worker
	// does not hold itself (its devices are reached by site workers), by adapter name.
	Expected map[string]time.Duration
	// ApprovalTTL is how long an approval counts (0: domain.DefaultApprovalTTL, 7 days).
	ApprovalTTL time.Duration
	// Notify is how notifications are delivered (notify.go).
	Notify notify.Settings

	// stepsCache holds each campaign's patch steps (campaign id → patchSteps); a campaign's
	// patch never changes. It holds one small entry per campaign this worker ran.
	stepsCache sync.Map
	// plans holds the plans of the campaigns this worker pages through (outline.go).
	plans planCache
	// kev is what the last KEV check matched against (notify_kev.go).
	kev kevMatch
}

// Error types the workflows list as non-retryable.
const (
	ErrTypeNoBackup       = "NoVerifiedBackup"
	ErrTypeUnknownAdapter = "UnknownAdapter"
)

func (a *Activities) target(name string) (adapters.Target, error) {
	t, ok := a.Adapters[name]
	if !ok {
		return nil, fmt.Errorf("no adapter %q is configured", name)
	}
	return t, nil
}

// expected is how long backup, deploy and verify of the asset take, to fit it into a window.
func (a *Activities) expected(as store.Asset) (time.Duration, error) {
	if t, ok := a.Adapters[as.Adapter]; ok {
		return t.ExpectedDuration(as.ID), nil
	}
	if d, ok := a.Expected[as.Adapter]; ok {
		return d, nil
	}
	_, err := a.target(as.Adapter)
	return 0, err
}

func (a *Activities) logger() *slog.Logger {
	if a.Log == nil {
		return slog.Default()
	}
	return a.Log
}

func (a *Activities) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

func system(action string) store.Event {
	return store.Event{Actor: "otpatch", Role: "system", Action: action}
}
