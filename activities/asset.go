package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// AssetInput names one asset of one campaign.
type AssetInput struct {
	CampaignID string `json:"campaign_id"`
	AssetID    string `json:"asset_id"`
	WorkflowID string `json:"workflow_id"`
	// TestBench is set for a test-bench asset: its verified backup becomes a baseline.
	TestBench bool `json:"test_bench,omitempty"`
}

// AssetStateInput records an asset's state within a campaign.
type AssetStateInput struct {
	AssetInput
	State   domain.AssetState `json:"state"`
	Error   string            `json:"error,omitempty"`
	Version string            `json:"version,omitempty"` // set with done / rolled_back: the version the device now reports
}

// SetAssetState records an asset transition; done and rolled_back also update the inventory's
// installed version.
func (a *Activities) SetAssetState(ctx context.Context, in AssetStateInput) error {
	ev := a.assetEvent(in.AssetInput, "asset."+string(in.State), map[string]any{"error": in.Error, "version": in.Version})
	if err := a.Store.UpdateCampaignAsset(ctx, in.CampaignID, in.AssetID, store.AssetChange{State: in.State, Error: store.Text(in.Error)}, ev); err != nil {
		return err
	}
	if in.State == domain.AssetRollbackFailed {
		if err := a.raiseRollbackAlarm(ctx, in); err != nil {
			return err
		}
	}
	if in.Version != "" {
		as, err := a.Store.Asset(ctx, in.AssetID)
		if err != nil {
			return err
		}
		if as.InstalledVersion != in.Version {
			ev := a.assetEvent(in.AssetInput, "asset.version_changed", map[string]any{"from": as.InstalledVersion, "to": in.Version})
			return a.Store.SetInstalledVersion(ctx, in.AssetID, in.Version, ev)
		}
	}
	return nil
}

func (a *Activities) assetEvent(in AssetInput, action string, details map[string]any) store.Event {
	ev := system(action)
	ev.WorkflowID = in.WorkflowID
	ev.Details = details
	return ev
}

func (a *Activities) assetTarget(ctx context.Context, assetID string) (store.Asset, adapters.Target, error) {
	as, err := a.Store.Asset(ctx, assetID)
	if err != nil {
		return as, nil, err
	}
	t, err := a.target(as.Adapter)
	if err != nil {
		return as, nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeUnknownAdapter, err)
	}
	return as, t, nil
}

// refOf is what the device side of a step needs of the asset; withSteps adds the patch's steps.
func (a *Activities) refOf(ctx context.Context, in AssetInput, as store.Asset, withSteps bool) (DeviceRef, error) {
	ref := DeviceRef{AssetInput: in, Name: as.Name, Adapter: as.Adapter, Endpoint: as.Endpoint, InstalledVersion: as.InstalledVersion}
	if withSteps {
		st, err := a.steps(ctx, in.CampaignID)
		if err != nil {
			return ref, err
		}
		ref.Steps = st
	}
	return ref, nil
}

// BackupResult is a verified backup.
type BackupResult struct {
	Key     string `json:"key"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Version string `json:"version"`
}

// BackupAsset streams the device's backup to the object store, hashing it on the way, then reads
// it back and checks the hash against both the stream and the device's own checksum. Without
// a verified backup it fails with a non-retryable NoVerifiedBackup error, and nothing deploys.
func (a *Activities) BackupAsset(ctx context.Context, in AssetInput) (BackupResult, error) {
	as, t, err := a.assetTarget(ctx, in.AssetID)
	if err != nil {
		return BackupResult{}, err
	}
	if err := a.Store.UpdateCampaignAsset(ctx, in.CampaignID, in.AssetID, store.AssetChange{State: domain.AssetBackingUp, FromVersion: as.InstalledVersion},
		a.assetEvent(in, "asset.backing_up", map[string]any{"version": as.InstalledVersion})); err != nil {
		return BackupResult{}, err
	}
	ref, _ := a.refOf(ctx, in, as, false)
	res, err := backupTo(a.withDeviceLog(ctx, in), a.Objects, t, ref)
	if err != nil {
		return BackupResult{}, err
	}
	return res, a.recordBackup(ctx, in, as.Name, res, nil)
}

// recordBackup records a verified backup (a test bench's becomes the baseline of the version it
// ran); details adds to the event.
func (a *Activities) recordBackup(ctx context.Context, in AssetInput, name string, res BackupResult, details map[string]any) error {
	if in.TestBench {
		if err := a.saveBaseline(ctx, in, res.Version, res); err != nil {
			return fmt.Errorf("keep the backup of %s as the %s baseline: %w", name, res.Version, err)
		}
	}
	d := map[string]any{"key": res.Key, "sha256": res.SHA256, "size": res.Size}
	maps.Copy(d, details)
	return a.Store.UpdateCampaignAsset(ctx, in.CampaignID, in.AssetID,
		store.AssetChange{State: domain.AssetBackedUp, Backup: &store.BackupRef{Key: res.Key, SHA256: res.SHA256, Size: res.Size}},
		a.assetEvent(in, "asset.backed_up", d))
}

// DeployInput is one installation on one asset.
type DeployInput struct {
	AssetInput
	PatchID        string `json:"patch_id"`
	ToVersion      string `json:"to_version"`
	ArtifactSHA256 string `json:"artifact_sha256"`
	Install        string `json:"install,omitempty"`
}

// IdempotencyKey is the key of one operation on one asset within one campaign.
func IdempotencyKey(campaignID, assetID, op string) string {
	return campaignID + "/" + assetID + "/" + op
}

// DeployAsset installs the patch through the asset's adapter, at most once per campaign.
func (a *Activities) DeployAsset(ctx context.Context, in DeployInput) error {
	as, t, err := a.assetTarget(ctx, in.AssetID)
	if err != nil {
		return err
	}
	key := IdempotencyKey(in.CampaignID, in.AssetID, "deploy")
	if err := a.Store.UpdateCampaignAsset(ctx, in.CampaignID, in.AssetID, store.AssetChange{State: domain.AssetDeploying, ToVersion: in.ToVersion},
		a.assetEvent(in.AssetInput, "asset.deploying", map[string]any{"to_version": in.ToVersion, "idempotency_key": key, "attempt": activity.GetInfo(ctx).Attempt})); err != nil {
		return err
	}
	ref, err := a.refOf(ctx, in.AssetInput, as, true)
	if err != nil {
		return err
	}
	at, err := deployOnce(a.withDeviceLog(ctx, in.AssetInput), a.Objects, t, ref, in.PatchID, in.ToVersion, in.ArtifactSHA256)
	if err == nil && at {
		ev := a.assetEvent(in.AssetInput, "asset.found_deployed", map[string]any{"to_version": in.ToVersion, "idempotency_key": key})
		ev.SubjectType, ev.SubjectID, ev.CampaignID, ev.AssetID = "asset", in.AssetID, in.CampaignID, in.AssetID
		_, err = a.Store.Append(ctx, ev)
	}
	return err
}

// VerifyInput checks an asset reports the expected version and is healthy.
type VerifyInput struct {
	AssetInput
	Expect string `json:"expect"`
}

// VerifyAsset reads back the device's version and health. A device that answers but is wrong
// is a result, not an error: the workflow decides to roll back.
func (a *Activities) VerifyAsset(ctx context.Context, in VerifyInput) (adapters.VerifyResult, error) {
	as, t, err := a.assetTarget(ctx, in.AssetID)
	if err != nil {
		return adapters.VerifyResult{}, err
	}
	if err := a.Store.UpdateCampaignAsset(ctx, in.CampaignID, in.AssetID, store.AssetChange{State: domain.AssetVerifying},
		a.assetEvent(in.AssetInput, "asset.verifying", map[string]any{"expect": in.Expect})); err != nil {
		return adapters.VerifyResult{}, err
	}
	ref, err := a.refOf(ctx, in.AssetInput, as, true)
	if err != nil {
		return adapters.VerifyResult{}, err
	}
	return verifyOn(a.withDeviceLog(ctx, in.AssetInput), t, ref, in.Expect)
}

// RestoreInput puts a verified backup back.
type RestoreInput struct {
	AssetInput
	BackupKey    string `json:"backup_key"`
	BackupSHA256 string `json:"backup_sha256"`
}

// RestoreAsset reads the backup, checks its SHA-256 again, and restores it through the adapter,
// at most once per campaign.
func (a *Activities) RestoreAsset(ctx context.Context, in RestoreInput) error {
	as, t, err := a.assetTarget(ctx, in.AssetID)
	if err != nil {
		return err
	}
	if err := a.Store.UpdateCampaignAsset(ctx, in.CampaignID, in.AssetID, store.AssetChange{State: domain.AssetRollingBack},
		a.assetEvent(in.AssetInput, "asset.rolling_back", map[string]any{"backup_key": in.BackupKey, "backup_sha256": in.BackupSHA256})); err != nil {
		return err
	}
	st, err := a.steps(ctx, in.CampaignID)
	if err != nil {
		return err
	}
	if err := restoreOnto(a.withDeviceLog(ctx, in.AssetInput), a.Objects, t, in, st, "restore"); err != nil {
		return deviceError(fmt.Errorf("restore %s: %w", as.Name, err))
	}
	return nil
}

// restoreOnto puts the backup in.BackupKey back onto the device through t, once per campaign,
// asset and op. It reads the whole backup into a temporary file, hashing it, before it touches
// the device, so a backup that changed in storage is refused; memory stays small whatever the
// backup's size.
func restoreOnto(ctx context.Context, objects ObjectStore, t adapters.Target, in RestoreInput, st DeviceSteps, op string) error {
	backup, size, err := stageBackup(ctx, objects, in)
	if err != nil {
		return err
	}
	defer func() {
		backup.Close()
		os.Remove(backup.Name())
	}()
	opCtx, stop := heartbeat(ctx)
	defer stop()
	req := adapters.RestoreRequest{IdempotencyKey: IdempotencyKey(in.CampaignID, in.AssetID, op), BackupSHA256: in.BackupSHA256,
		BackupSize: size, Step: st.Rollback, Backup: backup}
	return t.Restore(opCtx, in.AssetID, req)
}

// stageBackup copies a backup from the object store into a temporary file, hashing it on the
// way, and refuses it (non-retryable) when its SHA-256 is not the one recorded at backup time.
// The file is positioned at its start.
func stageBackup(ctx context.Context, objects ObjectStore, in RestoreInput) (*os.File, int64, error) {
	rc, err := objects.Open(ctx, in.BackupKey)
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	f, err := os.CreateTemp("", "otpatch-restore-*")
	if err != nil {
		return nil, 0, fmt.Errorf("stage backup %s: %w", in.BackupKey, err)
	}
	fail := func(err error) (*os.File, int64, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, err
	}
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(h, f), rc)
	if err != nil {
		return fail(fmt.Errorf("read backup %s: %w", in.BackupKey, err))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != in.BackupSHA256 {
		return fail(temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s changed in storage (SHA-256 %s, recorded %s); restore refused", in.BackupKey, got, in.BackupSHA256), ErrTypeNoBackup, nil))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	return f, size, nil
}

// raiseRollbackAlarm raises the alarm of an asset whose rollback failed: it is in an unknown
// state and needs a person. The alarm is in the API (GET /api/v1/alarms), the audit trail
// (alarm.raised) and the log, once per campaign and asset.
func (a *Activities) raiseRollbackAlarm(ctx context.Context, in AssetStateInput) error {
	as, err := a.Store.Asset(ctx, in.AssetID)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("rollback of %s failed in campaign %s; the device may run neither the old nor the new version: check it on site and restore it by hand (%s)", as.Name, in.CampaignID, in.Error)
	al := store.Alarm{ID: "alm_" + in.CampaignID + "_" + in.AssetID, Kind: string(domain.AssetRollbackFailed), Severity: "critical",
		CampaignID: in.CampaignID, AssetID: in.AssetID, Message: msg, RaisedAt: a.now()}
	ev := a.assetEvent(in.AssetInput, "alarm.raised", map[string]any{"kind": al.Kind, "severity": al.Severity, "message": msg})
	if err := a.Store.RaiseAlarm(ctx, &al, ev); err != nil {
		return err
	}
	a.logger().Error("ALARM: rollback failed, manual action needed", "campaign_id", in.CampaignID, "asset_id", in.AssetID, "asset", as.Name, "error", in.Error)
	return nil
}
