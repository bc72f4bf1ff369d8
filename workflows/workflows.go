// Package workflows orchestrates otpatch deterministically on Temporal: PatchQualification for
// each submitted patch, Campaign for each campaign (test bench, approval, maintenance windows,
// waves) and AssetDeployment, a child of Campaign, for each asset (backup, deploy, verify,
// rollback). All side effects are activities; time is workflow time.
package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/activities"
)

// TaskQueue is the queue otpatch's workers poll.
const TaskQueue = "otpatch"

// Query and update names.
const (
	QueryStatus    = "status"
	UpdateDecision = "decide"
)

// CampaignWorkflowID is the workflow ID of a campaign.
func CampaignWorkflowID(campaignID string) string { return "campaign-" + campaignID }

// AssetWorkflowID is the workflow ID of one asset's deployment within a campaign.
func AssetWorkflowID(campaignID, assetID string) string {
	return "campaign-" + campaignID + "-asset-" + assetID
}

// QualificationWorkflowID is the workflow ID of a patch's qualification.
func QualificationWorkflowID(patchID string) string { return "qualify-" + patchID }

// a references activity methods; workflows never call through it directly.
var a *activities.Activities

func bookkeeping(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	})
}

// localBookkeeping runs a short database write as a local activity, retried like bookkeeping.
func localBookkeeping(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	})
}

// QualificationInput names the patch to qualify.
type QualificationInput struct {
	PatchID string `json:"patch_id"`
}

// PatchQualification runs the qualification checks of a submitted patch.
func PatchQualification(ctx workflow.Context, in QualificationInput) (activities.QualifyResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	var res activities.QualifyResult
	err := workflow.ExecuteActivity(ctx, a.QualifyPatch, activities.QualifyInput{PatchID: in.PatchID, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID}).Get(ctx, &res)
	return res, err
}

// HeartbeatSend is the longest a worker holds a heartbeat before it sends it. The SDK would
// otherwise send at 80% of the 10 s heartbeat timeout, leaving 2 s for a loaded machine or a slow
// conduit before Temporal gives the attempt up; every 3 s leaves 7.
const HeartbeatSend = 3 * time.Second

// WorkerOptions are o with what every otpatch worker runs with (HeartbeatSend).
func WorkerOptions(o worker.Options) worker.Options {
	if o.MaxHeartbeatThrottleInterval == 0 {
		o.MaxHeartbeatThrottleInterval = HeartbeatSend
	}
	o.Interceptors = append(o.Interceptors, &logFields{})
	return o
}

// Register adds every otpatch workflow and the activities to a worker, so that the worker
// process, the embedded default and the tests register the same set.
func Register(r worker.Registry, acts *activities.Activities) {
	r.RegisterWorkflow(Campaign)
	r.RegisterWorkflow(AssetDeployment)
	r.RegisterWorkflow(PatchQualification)
	r.RegisterWorkflow(FeedSync)
	r.RegisterWorkflow(RestoreDrill)
	r.RegisterWorkflow(NotificationDispatch)
	r.RegisterWorkflow(NotificationDelivery)
	r.RegisterWorkflow(SiteDiscovery)
	r.RegisterActivity(acts)
}
