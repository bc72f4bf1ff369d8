package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// Restore drills (workflows.RestoreDrill): the most recent verified production backup of an
// asset of the drill's product or zone is restored onto a test-bench asset of the same product
// and verified there; the run, its time to restore and its result are evidence.

// DrillInput names the drill to run and who started it ("schedule" for its Temporal Schedule).
type DrillInput struct {
	DrillID   string `json:"drill_id"`
	StartedBy string `json:"started_by"`
}

// DrillPlanned is what a run will restore and where. Reason, when set, says why the run cannot
// restore anything (it then ends failed); RunID is empty when the drill was deleted.
type DrillPlanned struct {
	DrillID       string `json:"drill_id"`
	RunID         string `json:"run_id"`
	WorkflowID    string `json:"workflow_id"`
	Reason        string `json:"reason,omitempty"`
	SourceAssetID string `json:"source_asset_id,omitempty"`
	BenchAssetID  string `json:"bench_asset_id,omitempty"`
	CampaignID    string `json:"campaign_id,omitempty"`
	BackupKey     string `json:"backup_key,omitempty"`
	BackupSHA256  string `json:"backup_sha256,omitempty"`
	BackupVersion string `json:"backup_version,omitempty"`
}

// DrillEnd is how a run ended.
type DrillEnd struct {
	Planned         DrillPlanned       `json:"planned"`
	Result          domain.DrillResult `json:"result"`
	Reason          string             `json:"reason,omitempty"`
	VerifiedVersion string             `json:"verified_version,omitempty"`
	RestoreMS       int64              `json:"restore_ms"`
}

// DrillOutcome is the result of a RestoreDrill workflow.
type DrillOutcome struct {
	RunID     string             `json:"run_id"`
	Result    domain.DrillResult `json:"result"`
	Reason    string             `json:"reason,omitempty"`
	RestoreMS int64              `json:"restore_ms"`
}

// DrillRunID is the id of the drill run a RestoreDrill workflow run records: derived from the
// Temporal run id, so a retried activity finds the run it began.
func DrillRunID(temporalRunID string) string {
	id := strings.ToLower(strings.ReplaceAll(temporalRunID, "-", ""))
	if len(id) > 24 {
		id = id[:24]
	}
	return "drr_" + id
}

// BeginDrill records the run's start and picks what it restores: the most recent verified
// production backup of the drill's product or zone, and a test-bench asset of that product
// whose adapter this worker holds. What is missing is the run's reason to fail, in words.
func (a *Activities) BeginDrill(ctx context.Context, in DrillInput) (DrillPlanned, error) {
	info := activity.GetInfo(ctx)
	p := DrillPlanned{DrillID: in.DrillID, WorkflowID: info.WorkflowExecution.ID}
	d, err := a.Store.Drill(ctx, in.DrillID)
	if errors.Is(err, store.ErrNotFound) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	p.RunID = DrillRunID(info.WorkflowExecution.RunID)
	ev := system("drill.run_started")
	ev.Actor = in.StartedBy
	if in.StartedBy != "schedule" {
		ev.Actor, ev.Role = in.StartedBy, "engineer"
	}
	if err := a.Store.BeginDrillRun(ctx, &store.DrillRun{ID: p.RunID, DrillID: d.ID, WorkflowID: p.WorkflowID, StartedBy: in.StartedBy}, ev); err != nil {
		return p, err
	}
	what := ""
	if d.ProductID != "" {
		what = "product " + d.ProductID
	} else {
		what = "zone " + d.ZoneID
	}
	b, err := a.Store.LatestProductionBackup(ctx, d.ProductID, d.ZoneID)
	if errors.Is(err, store.ErrNotFound) {
		p.Reason = "no verified production backup of " + what + " to restore: a campaign takes one of each asset before it deploys, and none has yet"
		return p, nil
	}
	if err != nil {
		return p, err
	}
	p.SourceAssetID, p.CampaignID, p.BackupKey, p.BackupSHA256, p.BackupVersion = b.AssetID, b.CampaignID, b.Key, b.SHA256, b.Version
	bench, err := a.Store.BenchAssetOf(ctx, b.ProductID)
	if errors.Is(err, store.ErrNotFound) {
		p.Reason = fmt.Sprintf("no test-bench asset of product %s to restore onto: add one to a test-bench zone", b.ProductID)
		return p, nil
	}
	if err != nil {
		return p, err
	}
	p.BenchAssetID = bench.ID
	if _, ok := a.Adapters[bench.Adapter]; !ok {
		p.Reason = fmt.Sprintf("the test-bench asset %s is reached through the %s adapter, which the central worker does not hold; restore drills run through the central worker's adapters only", bench.Name, bench.Adapter)
	}
	return p, nil
}

// RestoreDrillBackup restores the planned production backup onto the bench asset (once per
// run), after checking the backup's SHA-256 again.
func (a *Activities) RestoreDrillBackup(ctx context.Context, p DrillPlanned) error {
	as, t, err := a.assetTarget(ctx, p.BenchAssetID)
	if err != nil {
		return err
	}
	st, err := a.steps(ctx, p.CampaignID)
	if err != nil {
		return err
	}
	in := RestoreInput{AssetInput: AssetInput{CampaignID: p.RunID, AssetID: p.BenchAssetID}, BackupKey: p.BackupKey, BackupSHA256: p.BackupSHA256}
	backup, size, err := stageBackup(ctx, a.Objects, in)
	if err != nil {
		return err
	}
	defer func() {
		backup.Close()
		os.Remove(backup.Name())
	}()
	opCtx, stop := heartbeat(ctx)
	defer stop()
	req := adapters.RestoreRequest{IdempotencyKey: IdempotencyKey(p.RunID, p.BenchAssetID, "drill"), BackupSHA256: p.BackupSHA256,
		BackupSize: size, Step: st.Rollback, Backup: backup, Source: p.SourceAssetID}
	if err := t.Restore(opCtx, p.BenchAssetID, req); err != nil {
		return deviceError(fmt.Errorf("restore the backup of %s onto %s: %w", p.SourceAssetID, as.Name, err))
	}
	return nil
}

// VerifyDrill reads the bench asset's version and health after the restore: it must run the
// backup's version and be healthy.
func (a *Activities) VerifyDrill(ctx context.Context, p DrillPlanned) (adapters.VerifyResult, error) {
	as, t, err := a.assetTarget(ctx, p.BenchAssetID)
	if err != nil {
		return adapters.VerifyResult{}, err
	}
	st, err := a.steps(ctx, p.CampaignID)
	if err != nil {
		return adapters.VerifyResult{}, err
	}
	ref := DeviceRef{AssetInput: AssetInput{CampaignID: p.RunID, AssetID: p.BenchAssetID}, Name: as.Name, Adapter: as.Adapter, Endpoint: as.Endpoint,
		InstalledVersion: as.InstalledVersion, Steps: st}
	return verifyOn(ctx, t, ref, p.BackupVersion)
}

// FinishDrill records how the run ended, with an audit event; a bench asset that now runs
// another version has its inventory corrected, as after any device change.
func (a *Activities) FinishDrill(ctx context.Context, in DrillEnd) (DrillOutcome, error) {
	p := in.Planned
	if in.Result == domain.DrillPassed && in.VerifiedVersion != "" {
		as, err := a.Store.Asset(ctx, p.BenchAssetID)
		if err != nil {
			return DrillOutcome{}, err
		}
		if as.InstalledVersion != in.VerifiedVersion {
			ev := system("asset.version_changed")
			ev.WorkflowID, ev.Details = p.WorkflowID, map[string]any{"from": as.InstalledVersion, "to": in.VerifiedVersion, "source": "restore drill " + p.RunID}
			if err := a.Store.SetInstalledVersion(ctx, as.ID, in.VerifiedVersion, ev); err != nil {
				return DrillOutcome{}, err
			}
		}
	}
	ev := system("drill." + string(in.Result))
	ev.Details = map[string]any{"run_id": p.RunID, "result": in.Result, "reason": in.Reason, "source_asset_id": p.SourceAssetID,
		"bench_asset_id": p.BenchAssetID, "backup_campaign_id": p.CampaignID, "backup_key": p.BackupKey, "backup_sha256": p.BackupSHA256,
		"backup_version": p.BackupVersion, "verified_version": in.VerifiedVersion, "restore_ms": in.RestoreMS}
	run, err := a.Store.FinishDrillRun(ctx, store.DrillRun{ID: p.RunID, DrillID: p.DrillID, WorkflowID: p.WorkflowID, Result: in.Result, Reason: in.Reason,
		SourceAssetID: p.SourceAssetID, BenchAssetID: p.BenchAssetID, BackupCampaignID: p.CampaignID, BackupKey: p.BackupKey, BackupSHA256: p.BackupSHA256,
		BackupVersion: p.BackupVersion, VerifiedVersion: in.VerifiedVersion, RestoreMS: in.RestoreMS}, ev)
	if err != nil {
		return DrillOutcome{}, err
	}
	a.logger().Info("restore drill ended", "drill", p.DrillID, "run", p.RunID, "result", run.Result, "reason", run.Reason, "restore_ms", run.RestoreMS)
	return DrillOutcome{RunID: run.ID, Result: run.Result, Reason: run.Reason, RestoreMS: run.RestoreMS}, nil
}
