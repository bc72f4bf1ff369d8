package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// Route says where an asset's device work runs.
type Route struct {
	// TaskQueue is the site's task queue; empty: the central workers do the device work.
	TaskQueue string `json:"task_queue,omitempty"`
	SiteID    string `json:"site_id,omitempty"`
	SiteName  string `json:"site_name,omitempty"`
	// UnreachableAfter is how long device work waits for a site worker before anything was
	// changed on the device; then the asset ends site_unreachable.
	UnreachableAfter time.Duration `json:"unreachable_after,omitempty"`
	// Ref is what the site worker needs of the asset.
	Ref DeviceRef `json:"ref"`
}

// RouteAsset decides where the asset's device work runs: on its site's task queue when the site
// has site workers and the asset is reached over ssh, centrally otherwise. An agent asset's
// agent dials out to the central API itself, and a simulated device lives in the central
// database, so neither has device work a site worker could do.
func (a *Activities) RouteAsset(ctx context.Context, in AssetInput) (Route, error) {
	as, err := a.Store.Asset(ctx, in.AssetID)
	if err != nil {
		return Route{}, err
	}
	z, err := a.Store.Zone(ctx, as.ZoneID)
	if err != nil {
		return Route{}, err
	}
	site, err := a.Store.Site(ctx, z.SiteID)
	if err != nil {
		return Route{}, err
	}
	if site.DeviceWork != domain.DeviceWorkSiteWorker || as.Adapter != adapters.SSH {
		return Route{}, nil
	}
	ref, err := a.refOf(ctx, in, as, true)
	if err != nil {
		return Route{}, err
	}
	// The store keeps the limit within 60 s to 30 days.
	wait := time.Duration(site.UnreachableAfter) * time.Second
	return Route{TaskQueue: domain.SiteTaskQueue(site.ID), SiteID: site.ID, SiteName: site.Name, UnreachableAfter: wait, Ref: ref}, nil
}

// Device steps, as the central worker records them around a site worker's device work.
const (
	StepCheck   = "check"
	StepPrepare = "prepare"
	StepBackup  = "backup"
	StepDeploy  = "deploy"
	StepVerify  = "verify"
	StepRestore = "restore"
)

// DeviceStepInput is one device step of a site worker, as the central worker records it:
// BeginDeviceStep before the work is queued, EndDeviceStep with what the site worker reported.
type DeviceStepInput struct {
	AssetInput
	Step   string `json:"step"`
	SiteID string `json:"site_id"`
	// Name is the asset's name when the work was routed, for messages.
	Name string `json:"name,omitempty"`
	// What the step works with, by step.
	FromVersion string           `json:"from_version,omitempty"`
	ToVersion   string           `json:"to_version,omitempty"`
	Expect      string           `json:"expect,omitempty"`
	Baseline    *domain.Baseline `json:"baseline,omitempty"`
	BackupKey   string           `json:"backup_key,omitempty"`
	BackupSHA   string           `json:"backup_sha256,omitempty"`
	// Installed is the inventory's version when the work was routed.
	Installed string `json:"installed,omitempty"`
	// Set on EndDeviceStep: what the site worker reported.
	Report *DeviceReport `json:"report,omitempty"`
	Check  *CheckResult  `json:"check,omitempty"`
	Backup *BackupResult `json:"backup,omitempty"`
}

// BeginDeviceStep records that a device step was handed to the asset's site, as the central
// activities record it when they begin the step themselves.
func (a *Activities) BeginDeviceStep(ctx context.Context, in DeviceStepInput) error {
	with := func(d map[string]any) map[string]any {
		d["site_id"], d["task_queue"] = in.SiteID, domain.SiteTaskQueue(in.SiteID)
		return d
	}
	var ch store.AssetChange
	var ev store.Event
	switch in.Step {
	case StepPrepare:
		ev = a.assetEvent(in.AssetInput, "asset.bench_preparing", with(map[string]any{"baseline_version": in.Baseline.Version, "baseline_sha256": in.Baseline.SHA256, "from": in.Installed}))
	case StepBackup:
		ch = store.AssetChange{State: domain.AssetBackingUp, FromVersion: in.Installed}
		ev = a.assetEvent(in.AssetInput, "asset.backing_up", with(map[string]any{"version": in.Installed}))
	case StepDeploy:
		ch = store.AssetChange{State: domain.AssetDeploying, ToVersion: in.ToVersion}
		ev = a.assetEvent(in.AssetInput, "asset.deploying", with(map[string]any{"to_version": in.ToVersion, "idempotency_key": IdempotencyKey(in.CampaignID, in.AssetID, "deploy")}))
	case StepVerify:
		ch = store.AssetChange{State: domain.AssetVerifying}
		ev = a.assetEvent(in.AssetInput, "asset.verifying", with(map[string]any{"expect": in.Expect}))
	case StepRestore:
		ch = store.AssetChange{State: domain.AssetRollingBack}
		ev = a.assetEvent(in.AssetInput, "asset.rolling_back", with(map[string]any{"backup_key": in.BackupKey, "backup_sha256": in.BackupSHA}))
	default:
		return nil
	}
	return a.Store.UpdateCampaignAsset(ctx, in.CampaignID, in.AssetID, ch, ev)
}

// EndDeviceStep records what a site worker reported of a device step: the device's output in
// the deployment log, and the version read or the verified backup.
func (a *Activities) EndDeviceStep(ctx context.Context, in DeviceStepInput) error {
	worker := ""
	if in.Report != nil {
		worker = in.Report.Worker
		for _, l := range in.Report.Output {
			if err := a.Store.AppendDeploymentLog(ctx, in.CampaignID, in.AssetID, l.Stream, l.Text); err != nil {
				return err
			}
		}
	}
	by := map[string]any{"site_id": in.SiteID, "worker": worker}
	switch {
	case in.Step == StepCheck && in.Check != nil:
		return a.recordCheck(ctx, CheckInput{AssetInput: in.AssetInput, FromVersion: in.FromVersion}, in.Installed, *in.Check, by)
	case in.Step == StepBackup && in.Backup != nil:
		return a.recordBackup(ctx, in.AssetInput, in.Name, *in.Backup, by)
	}
	return nil
}

// UnreachableInput is an asset whose site took none of its device work in time.
type UnreachableInput struct {
	AssetInput
	SiteID   string        `json:"site_id"`
	SiteName string        `json:"site_name"`
	Waited   time.Duration `json:"waited"`
	Step     string        `json:"step"`
}

// SiteUnreachable ends the asset site_unreachable and raises an alarm: no worker of its site
// took its device work within the site's limit, and nothing was deployed.
func (a *Activities) SiteUnreachable(ctx context.Context, in UnreachableInput) error {
	as, err := a.Store.Asset(ctx, in.AssetID)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("no worker of site %s took the %s of %s within %s, so nothing was deployed; start `otpatch worker --site %s` at the site",
		in.SiteName, stepWords[in.Step], as.Name, in.Waited, in.SiteID)
	ev := a.assetEvent(in.AssetInput, "asset."+string(domain.AssetSiteUnreachable), map[string]any{"error": msg, "site_id": in.SiteID, "waited_seconds": int64(in.Waited / time.Second)})
	err = a.Store.UpdateCampaignAsset(ctx, in.CampaignID, in.AssetID, store.AssetChange{State: domain.AssetSiteUnreachable, Error: store.Text(msg)}, ev)
	if err != nil && !errors.Is(err, store.ErrUnchanged) {
		return err
	}
	al := store.Alarm{ID: "alm_" + in.CampaignID + "_" + in.AssetID + "_site", Kind: string(domain.AssetSiteUnreachable), Severity: "warning",
		CampaignID: in.CampaignID, AssetID: in.AssetID, Message: msg, RaisedAt: a.now()}
	aev := a.assetEvent(in.AssetInput, "alarm.raised", map[string]any{"kind": al.Kind, "severity": al.Severity, "message": msg})
	if err := a.Store.RaiseAlarm(ctx, &al, aev); err != nil && !errors.Is(err, store.ErrUnchanged) {
		return err
	}
	a.logger().Error("ALARM: site unreachable, nothing deployed", "campaign_id", in.CampaignID, "asset_id", in.AssetID, "site_id", in.SiteID)
	return nil
}

var stepWords = map[string]string{StepCheck: "version check", StepPrepare: "test-bench preparation", StepBackup: "backup",
	StepDeploy: "deploy", StepVerify: "verification", StepRestore: "restore"}
