package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

// AssetDeploymentInput is one asset's change within a campaign.
type AssetDeploymentInput struct {
	CampaignID     string `json:"campaign_id"`
	AssetID        string `json:"asset_id"`
	PatchID        string `json:"patch_id"`
	ToVersion      string `json:"to_version"`
	ArtifactSHA256 string `json:"artifact_sha256"`
	Install        string `json:"install,omitempty"`
	// Waiver, when set, is an engineer's waiver of the verified backup: a failed backup does
	// not stop the deploy, and a later failure cannot be rolled back.
	Waiver *BackupWaiver `json:"backup_waiver,omitempty"`
	// FromVersion is the version the plan says the asset runs; the device is read and a
	// drifted asset is left untouched. Empty on plans made before plans carried it.
	FromVersion string `json:"from_version,omitempty"`
	// TestBench is set for a test-bench run; Bench says how the bench is brought to FromVersion.
	TestBench bool             `json:"test_bench,omitempty"`
	Bench     *domain.BenchRun `json:"bench,omitempty"`
}

// AssetDeploymentResult is where the asset ended.
type AssetDeploymentResult struct {
	AssetID string            `json:"asset_id"`
	State   domain.AssetState `json:"state"`
	Error   string            `json:"error,omitempty"`
	Backup  string            `json:"backup_sha256,omitempty"`
	// Unbacked is set when the asset was deployed without a verified backup, under a waiver.
	Unbacked bool `json:"deployed_without_backup,omitempty"`
}

// Succeeded reports whether the asset runs the new version.
func (r AssetDeploymentResult) Succeeded() bool { return r.State == domain.AssetDone }

// AssetDeployment backs up, deploys and verifies one asset; when deploy or verification fails
// it restores the verified backup and verifies again. No verified backup, no deploy.
func AssetDeployment(ctx workflow.Context, in AssetDeploymentInput) (AssetDeploymentResult, error) {
	ref := activities.AssetInput{CampaignID: in.CampaignID, AssetID: in.AssetID, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID, TestBench: in.TestBench}
	res := AssetDeploymentResult{AssetID: in.AssetID}
	book := bookkeeping(ctx)
	// From this version on an asset's state is recorded by a local activity: a database write
	// in the worker that runs the workflow, without a round trip through the task queue.
	local := workflow.GetVersion(ctx, "asset-state-local-activity", workflow.DefaultVersion, 1) >= 1
	setState := func(c workflow.Context, s domain.AssetState, msg, version string) error {
		res.State, res.Error = s, msg
		in := activities.AssetStateInput{AssetInput: ref, State: s, Error: msg, Version: version}
		if local {
			return workflow.ExecuteLocalActivity(localBookkeeping(c), a.SetAssetState, in).Get(c, nil)
		}
		return workflow.ExecuteActivity(bookkeeping(c), a.SetAssetState, in).Get(c, nil)
	}

	// Where the device work runs: on the asset's site's task queue when its site has site
	// workers (recorded once, in the history), centrally otherwise.
	dw := deviceWork{ref: ref}
	if workflow.GetVersion(ctx, siteTaskQueueVersion, workflow.DefaultVersion, 1) >= 1 {
		if err := workflow.ExecuteLocalActivity(localBookkeeping(ctx), a.RouteAsset, ref).Get(ctx, &dw.route); err != nil {
			return res, err
		}
	}
	// unreached ends an asset whose site took none of its device work within the site's limit.
	unreached := func(step string) (AssetDeploymentResult, error) {
		res.State, res.Error = domain.AssetSiteUnreachable, "no site worker took the "+step+" in time; nothing deployed"
		dc, _ := workflow.NewDisconnectedContext(ctx)
		return res, workflow.ExecuteLocalActivity(localBookkeeping(dc), a.SiteUnreachable, activities.UnreachableInput{AssetInput: ref,
			SiteID: dw.route.SiteID, SiteName: dw.route.SiteName, Waited: dw.route.UnreachableAfter, Step: step}).Get(dc, nil)
	}

	// skipped records an asset the campaign's abort reached before anything changed it.
	skipped := func() (AssetDeploymentResult, error) {
		dc, _ := workflow.NewDisconnectedContext(ctx)
		return res, setState(dc, domain.AssetSkipped, "campaign aborted before this asset was changed", "")
	}

	// Backup and verify heartbeat like deploy and restore, so a worker that dies mid-step is
	// replaced within seconds rather than at the start-to-close timeout.
	backupCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumAttempts: 3, NonRetryableErrorTypes: []string{activities.ErrTypeNoBackup, activities.ErrTypeUnknownAdapter}},
	})
	if in.FromVersion != "" && workflow.GetVersion(ctx, "from-version-checked-before-backup", workflow.DefaultVersion, 1) >= 1 {
		// The engine checks reality before it acts: a test bench is first brought to the
		// from-version it stands for, then every device is asked which version it runs.
		if in.Bench != nil && in.Bench.Prepare == domain.PrepareRestoreBaseline && in.Bench.Baseline != nil {
			err := dw.prepare(backupCtx, *in.Bench.Baseline)
			if err != nil {
				if ctx.Err() != nil {
					return skipped()
				}
				if unreachable(err) {
					return unreached(activities.StepPrepare)
				}
				return res, setState(book, domain.AssetFailed, fmt.Sprintf("the test bench could not be brought to %s, so nothing was deployed: %s", in.FromVersion, rootMessage(err)), "")
			}
		}
		chk, err := dw.check(verifyCtxOf(ctx), in.FromVersion)
		switch {
		case err != nil && ctx.Err() != nil:
			return skipped()
		case unreachable(err):
			return unreached(activities.StepCheck)
		case err != nil:
			return res, setState(book, domain.AssetFailed, "the installed version could not be read, so nothing was deployed: "+rootMessage(err), "")
		case chk.Drifted:
			return res, setState(book, domain.AssetDrifted, fmt.Sprintf("the device runs %s, the approved plan says %s; left as it is, nothing deployed", chk.Version, in.FromVersion), "")
		}
	}
	backup, err := dw.backup(backupCtx)
	if err != nil {
		if ctx.Err() != nil {
			// Aborted before the asset was touched: nothing to roll back.
			return skipped()
		}
		if unreachable(err) {
			return unreached(activities.StepBackup)
		}
		if !waived(ctx, in, err) {
			return res, setState(book, domain.AssetFailed, "no verified backup, so nothing was deployed: "+rootMessage(err), "")
		}
		// An engineer waived the backup: deploy without one, and say so in the trail.
		res.Unbacked = true
		backupErr := rootMessage(err)
		if err := workflow.ExecuteActivity(book, a.RecordUnbackedDeploy, activities.UnbackedDeployInput{AssetInput: ref,
			WaivedBy: in.Waiver.Actor, Role: string(in.Waiver.Role), Reason: in.Waiver.Reason, BackupError: backupErr}).Get(ctx, nil); err != nil {
			return res, err
		}
	}
	res.Backup = backup.SHA256

	deployCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Minute,
		HeartbeatTimeout:    10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumAttempts: 3, NonRetryableErrorTypes: []string{activities.ErrTypeUnknownAdapter}},
		// On abort, wait until the installer has really stopped before restoring the backup.
		WaitForCancellation: true,
	})
	verifyCtx := verifyCtxOf(ctx)
	// From this version on, an asset whose change an abort interrupted ends aborted, not as a
	// deploy or verification failure.
	honestAbort := workflow.GetVersion(ctx, "abort-ends-aborted", workflow.DefaultVersion, 1) >= 1
	aborted := func() bool { return honestAbort && ctx.Err() != nil }
	failure := ""
	err = dw.deploy(deployCtx, activities.DeployInput{AssetInput: ref, PatchID: in.PatchID,
		ToVersion: in.ToVersion, ArtifactSHA256: in.ArtifactSHA256, Install: in.Install})
	if err != nil {
		failure = "deploy failed: " + rootMessage(err)
		if aborted() {
			failure = "the campaign was aborted during the deploy"
		}
	} else {
		if v, err := dw.verify(verifyCtx, in.ToVersion); err != nil {
			failure = "verification could not run: " + rootMessage(err)
			if aborted() {
				failure = "the campaign was aborted before verification"
			}
		} else if !v.Healthy {
			failure = "verification failed: " + v.Detail
		} else {
			// Recorded even when an abort arrives now: a verified asset stays as it is.
			dc, _ := workflow.NewDisconnectedContext(ctx)
			note := ""
			if res.Unbacked {
				note = unbackedNote(in.Waiver)
			}
			return res, setState(dc, domain.AssetDone, note, v.Version)
		}
	}

	// Roll back, always on a disconnected context: an abort arriving during the rollback must
	// not cancel the restore.
	rb, _ := workflow.NewDisconnectedContext(ctx)
	if err := setState(rb, domain.AssetFailed, failure, ""); err != nil {
		return res, err
	}
	if res.Unbacked {
		// Nothing to restore: the asset was deployed under a backup waiver.
		return res, setState(rb, domain.AssetRollbackFailed, failure+"; no verified backup to restore ("+unbackedNote(in.Waiver)+"); manual action needed", "")
	}
	restoreCtx := workflow.WithActivityOptions(rb, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Minute,
		HeartbeatTimeout:    10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumAttempts: 5, NonRetryableErrorTypes: []string{activities.ErrTypeNoBackup, activities.ErrTypeUnknownAdapter}},
	})
	err = dw.restore(restoreCtx, backup.Key, backup.SHA256)
	if err != nil {
		return res, setState(rb, domain.AssetRollbackFailed, failure+"; restore failed: "+rootMessage(err)+"; manual action needed", "")
	}
	verifyRb := workflow.WithActivityOptions(rb, workflow.GetActivityOptions(verifyCtx))
	v, err := dw.verify(verifyRb, backup.Version)
	if err != nil || !v.Healthy {
		why := v.Detail
		if err != nil {
			why = rootMessage(err)
		}
		return res, setState(rb, domain.AssetRollbackFailed, failure+"; after restore the asset does not verify: "+why+"; manual action needed", "")
	}
	if aborted() {
		return res, setState(rb, domain.AssetAborted, failure+"; restored after abort: backup "+domain.ShortHash(backup.SHA256)+", verified version "+v.Version, v.Version)
	}
	return res, setState(rb, domain.AssetRolledBack, failure+"; restored backup "+domain.ShortHash(backup.SHA256)+" and verified version "+v.Version, v.Version)
}

// verifyCtxOf is the activity options of reading a device (verify, version check).
func verifyCtxOf(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		HeartbeatTimeout:    10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 2 * time.Second, MaximumAttempts: 3},
	})
}

// waived reports whether an engineer's waiver lets the asset deploy although its backup failed
// with err. A missing adapter is not waived: the deploy could not run either.
func waived(ctx workflow.Context, in AssetDeploymentInput, err error) bool {
	if in.Waiver == nil {
		return false
	}
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Type() == activities.ErrTypeUnknownAdapter {
		return false
	}
	return workflow.GetVersion(ctx, waiverVersion, workflow.DefaultVersion, 1) >= 1
}

func unbackedNote(w *BackupWaiver) string {
	return fmt.Sprintf("deployed without a verified backup under the waiver of %s (%s): %s", w.Actor, w.Role, w.Reason)
}

// rootMessage is the innermost error message, without Temporal's wrapping.
func rootMessage(err error) string {
	for {
		var next error
		switch e := err.(type) {
		case *temporal.ActivityError:
			next = e.Unwrap()
		case *temporal.ChildWorkflowExecutionError:
			next = e.Unwrap()
		case *temporal.ApplicationError:
			return e.Message()
		default:
			return err.Error()
		}
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
