package workflows

import (
	"errors"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/domain"
)

// dv references the device activities of site workers; workflows never call through it.
var dv *activities.Device

// siteTaskQueueVersion marks histories whose device work may run on a site's task queue.
const siteTaskQueueVersion = "site-task-queue"

// deviceWork runs one asset's device steps where its route says: through the central
// activities, which read and record themselves, or on its site's task queue, where a site worker
// does only the device work and the central worker records around it (local activities before
// and after each step).
type deviceWork struct {
	route activities.Route
	ref   activities.AssetInput
}

func (d deviceWork) site() bool { return d.route.TaskQueue != "" }

// on is ctx with the device work on the site's task queue. Steps before anything changed on the
// device wait at most the site's limit for a worker (first); later steps wait as long as it
// takes, since a change in progress must finish or be rolled back on the site.
func (d deviceWork) on(ctx workflow.Context, first bool) workflow.Context {
	o := workflow.GetActivityOptions(ctx)
	o.TaskQueue = d.route.TaskQueue
	if first {
		o.ScheduleToStartTimeout = d.route.UnreachableAfter
	}
	return workflow.WithActivityOptions(ctx, o)
}

func (d deviceWork) step(step string) activities.DeviceStepInput {
	return activities.DeviceStepInput{AssetInput: d.ref, Step: step, SiteID: d.route.SiteID, Name: d.route.Ref.Name, Installed: d.route.Ref.InstalledVersion}
}

// record runs a central bookkeeping step as a local activity, on a disconnected context so that
// an abort never leaves a step half recorded.
func (d deviceWork) record(ctx workflow.Context, fn any, in any) error {
	rc, _ := workflow.NewDisconnectedContext(ctx)
	return workflow.ExecuteLocalActivity(localBookkeeping(rc), fn, in).Get(rc, nil)
}

// ended records the end of a site step: the device's output, and what it read.
func (d deviceWork) ended(ctx workflow.Context, in activities.DeviceStepInput, rep activities.DeviceReport, err error) error {
	if err != nil {
		rep = activities.ReportOf(err)
	}
	if len(rep.Output) == 0 && in.Check == nil && in.Backup == nil {
		return nil
	}
	in.Report = &rep
	return d.record(ctx, a.EndDeviceStep, in)
}

// unreachable reports whether err is a site worker's absence: the step waited its limit in the
// site's queue and no worker took it.
func unreachable(err error) bool {
	var te *temporal.TimeoutError
	return errors.As(err, &te) && te.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START
}

// onSite runs one device step on the asset's site: BeginDeviceStep first (when begin), the
// site worker's activity fn(arg), then EndDeviceStep with what it reported; fill adds what the
// step read (a version, a backup) to the record. A failed record fails a step that succeeded.
func onSite[R interface {
	Reported() activities.DeviceReport
}](ctx workflow.Context, d deviceWork, st activities.DeviceStepInput, begin, first bool,
	fn, arg any, fill func(*activities.DeviceStepInput, *R)) (R, error) {
	var res R
	if begin {
		if err := d.record(ctx, a.BeginDeviceStep, st); err != nil {
			return res, err
		}
	}
	err := workflow.ExecuteActivity(d.on(ctx, first), fn, arg).Get(ctx, &res)
	if err == nil && fill != nil {
		fill(&st, &res)
	}
	if rerr := d.ended(ctx, st, res.Reported(), err); rerr != nil && err == nil {
		return res, rerr
	}
	return res, err
}

func (d deviceWork) check(ctx workflow.Context, from string) (activities.CheckResult, error) {
	if !d.site() {
		var chk activities.CheckResult
		err := workflow.ExecuteActivity(ctx, a.CheckInstalled, activities.CheckInput{AssetInput: d.ref, FromVersion: from}).Get(ctx, &chk)
		return chk, err
	}
	st := d.step(activities.StepCheck)
	st.FromVersion = from
	res, err := onSite(ctx, d, st, false, true, dv.DeviceCheck, activities.DeviceCheckInput{Ref: d.route.Ref, FromVersion: from},
		func(st *activities.DeviceStepInput, r *activities.DeviceCheckResult) { st.Check = &r.CheckResult })
	return res.CheckResult, err
}

func (d deviceWork) prepare(ctx workflow.Context, baseline domain.Baseline) error {
	if !d.site() {
		return workflow.ExecuteActivity(ctx, a.PrepareBench, activities.PrepareInput{AssetInput: d.ref, Baseline: baseline}).Get(ctx, nil)
	}
	st := d.step(activities.StepPrepare)
	st.Baseline = &baseline
	_, err := onSite[activities.DeviceReport](ctx, d, st, true, true, dv.DevicePrepare, activities.DevicePrepareInput{Ref: d.route.Ref, Baseline: baseline}, nil)
	return err
}

func (d deviceWork) backup(ctx workflow.Context) (activities.BackupResult, error) {
	if !d.site() {
		var b activities.BackupResult
		err := workflow.ExecuteActivity(ctx, a.BackupAsset, d.ref).Get(ctx, &b)
		return b, err
	}
	res, err := onSite(ctx, d, d.step(activities.StepBackup), true, true, dv.DeviceBackup, d.route.Ref,
		func(st *activities.DeviceStepInput, r *activities.DeviceBackupResult) { st.Backup = &r.BackupResult })
	return res.BackupResult, err
}

func (d deviceWork) deploy(ctx workflow.Context, in activities.DeployInput) error {
	if !d.site() {
		return workflow.ExecuteActivity(ctx, a.DeployAsset, in).Get(ctx, nil)
	}
	st := d.step(activities.StepDeploy)
	st.ToVersion = in.ToVersion
	_, err := onSite[activities.DeviceReport](ctx, d, st, true, false, dv.DeviceDeploy, activities.DeviceDeployInput{Ref: d.route.Ref, PatchID: in.PatchID,
		ToVersion: in.ToVersion, ArtifactSHA256: in.ArtifactSHA256}, nil)
	return err
}

func (d deviceWork) verify(ctx workflow.Context, expect string) (adapters.VerifyResult, error) {
	if !d.site() {
		var v adapters.VerifyResult
		err := workflow.ExecuteActivity(ctx, a.VerifyAsset, activities.VerifyInput{AssetInput: d.ref, Expect: expect}).Get(ctx, &v)
		return v, err
	}
	st := d.step(activities.StepVerify)
	st.Expect = expect
	res, err := onSite[activities.DeviceVerifyResult](ctx, d, st, true, false, dv.DeviceVerify, activities.DeviceVerifyInput{Ref: d.route.Ref, Expect: expect}, nil)
	return res.VerifyResult, err
}

func (d deviceWork) restore(ctx workflow.Context, key, sha string) error {
	if !d.site() {
		return workflow.ExecuteActivity(ctx, a.RestoreAsset, activities.RestoreInput{AssetInput: d.ref, BackupKey: key, BackupSHA256: sha}).Get(ctx, nil)
	}
	st := d.step(activities.StepRestore)
	st.BackupKey, st.BackupSHA = key, sha
	_, err := onSite[activities.DeviceReport](ctx, d, st, true, false, dv.DeviceRestore, activities.DeviceRestoreInput{Ref: d.route.Ref, BackupKey: key, BackupSHA256: sha}, nil)
	return err
}
