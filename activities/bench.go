package activities

import (
	"context"
	"fmt"
	"maps"

	"golang.org/x/sync/errgroup"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// CheckInput asks a device which version it runs before the engine touches it.
type CheckInput struct {
	AssetInput
	// FromVersion is the version the plan says the asset runs.
	FromVersion string `json:"from_version"`
}

// CheckResult is what the device reported.
type CheckResult struct {
	Version string `json:"version"`
	// Drifted is set when the device does not run the plan's from-version.
	Drifted bool `json:"drifted"`
}

// CheckInstalled reads the installed version from the device itself (the patch's verify step)
// and compares it with the plan's from-version. The inventory is corrected to what the device
// reports, with an audit event, so the plant's record follows reality.
func (a *Activities) CheckInstalled(ctx context.Context, in CheckInput) (CheckResult, error) {
	as, t, err := a.assetTarget(ctx, in.AssetID)
	if err != nil {
		return CheckResult{}, err
	}
	ref, err := a.refOf(ctx, in.AssetInput, as, true)
	if err != nil {
		return CheckResult{}, err
	}
	out, err := checkVersion(a.withDeviceLog(ctx, in.AssetInput), t, ref, in.FromVersion)
	if err != nil {
		return CheckResult{}, err
	}
	return out, a.recordCheck(ctx, in, as.InstalledVersion, out, nil)
}

// recordCheck records the version a device reported before the engine touched it, and corrects
// the inventory to it; details adds to the event.
func (a *Activities) recordCheck(ctx context.Context, in CheckInput, installed string, out CheckResult, details map[string]any) error {
	d := map[string]any{"plan_from_version": in.FromVersion, "device_version": out.Version, "drifted": out.Drifted}
	maps.Copy(d, details)
	ev := a.assetEvent(in.AssetInput, "asset.version_checked", d)
	if err := a.Store.UpdateCampaignAsset(ctx, in.CampaignID, in.AssetID, store.AssetChange{FromVersion: out.Version}, ev); err != nil {
		return err
	}
	if installed != out.Version {
		ev := a.assetEvent(in.AssetInput, "asset.version_changed", map[string]any{"from": installed, "to": out.Version, "source": "device"})
		if err := a.Store.SetInstalledVersion(ctx, in.AssetID, out.Version, ev); err != nil {
			return err
		}
	}
	return nil
}

// PrepareInput brings a test-bench asset to the from-version it stands for.
type PrepareInput struct {
	AssetInput
	Baseline domain.Baseline `json:"baseline"`
}

// PrepareBench restores a verified baseline of the from-version onto a test-bench asset, at most
// once per campaign; CheckInstalled then confirms the device runs that version.
func (a *Activities) PrepareBench(ctx context.Context, in PrepareInput) error {
	as, t, err := a.assetTarget(ctx, in.AssetID)
	if err != nil {
		return err
	}
	ev := a.assetEvent(in.AssetInput, "asset.bench_preparing", map[string]any{"baseline_version": in.Baseline.Version, "baseline_sha256": in.Baseline.SHA256, "from": as.InstalledVersion})
	if err := a.Store.UpdateCampaignAsset(ctx, in.CampaignID, in.AssetID, store.AssetChange{}, ev); err != nil {
		return err
	}
	in2 := RestoreInput{AssetInput: in.AssetInput, BackupKey: in.Baseline.ObjectKey, BackupSHA256: in.Baseline.SHA256}
	st, err := a.steps(ctx, in.CampaignID)
	if err != nil {
		return err
	}
	if err := restoreOnto(a.withDeviceLog(ctx, in.AssetInput), a.Objects, t, in2, st, "prepare"); err != nil {
		return deviceError(fmt.Errorf("restore the %s baseline onto %s: %w", in.Baseline.Version, as.Name, err))
	}
	return nil
}

// saveBaseline keeps a verified backup of a test-bench asset as the baseline of the version it
// ran, so a later campaign can bring the bench back to that version.
func (a *Activities) saveBaseline(ctx context.Context, in AssetInput, version string, b BackupResult) error {
	if version == "" {
		return nil
	}
	return a.Store.SaveBaseline(ctx, store.BenchBaseline{AssetID: in.AssetID, Version: version, ObjectKey: b.Key, SHA256: b.SHA256,
		Size: b.Size, CampaignID: in.CampaignID})
}

// EndInput closes the targets of an ended campaign that never started.
type EndInput struct {
	CampaignID string `json:"campaign_id"`
	WorkflowID string `json:"workflow_id"`
	// Reason says why they never started (the campaign was aborted or halted).
	Reason string `json:"reason"`
}

// MarkNotStarted moves every target still pending to not_started, one audit event each. The
// changes are sent notStartedWriters at a time, so the store commits them in groups: a campaign
// of 50,000 targets that ends early closes them within the activity's timeout (a retry goes on
// with those still pending).
func (a *Activities) MarkNotStarted(ctx context.Context, in EndInput) error {
	targets, err := a.Store.CampaignAssets(ctx, in.CampaignID)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(notStartedWriters)
	for _, t := range targets {
		if t.State != string(domain.AssetPending) {
			continue
		}
		g.Go(func() error {
			ref := AssetInput{CampaignID: in.CampaignID, AssetID: t.AssetID, WorkflowID: in.WorkflowID}
			ev := a.assetEvent(ref, "asset."+string(domain.AssetNotStarted), map[string]any{"reason": in.Reason})
			return a.Store.UpdateCampaignAsset(gctx, in.CampaignID, t.AssetID, store.AssetChange{State: domain.AssetNotStarted, Error: store.Text(in.Reason)}, ev)
		})
	}
	return g.Wait()
}

// notStartedWriters is how many not_started changes MarkNotStarted has in flight.
const notStartedWriters = 32
