package workflows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Zurich on machines without a zoneinfo database

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/domain"
)

// The actors of the tests. eve (engineer) creates every campaign.
var (
	eve    = domain.Actor{Name: "eve", Role: domain.RoleEngineer}
	alice  = domain.Actor{Name: "alice", Role: domain.RoleApprover}
	bob    = domain.Actor{Name: "bob", Role: domain.RoleApprover}
	sam    = domain.Actor{Name: "sam", Role: domain.RoleSafety}
	audrey = domain.Actor{Name: "audrey", Role: domain.RoleAuditor}
)

const (
	testCampaign = "cmp1"
	testDigest   = "5d1f0c6a2b7e4f3a9c8d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b"
	fromVersion  = "4.1.0"
	toVersion    = "4.1.3"
)

func zurich(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// device is the fake plant behind the mocked asset activities: it remembers the version the
// device runs and fails where a test tells it to.
type device struct {
	version               string
	backupErr             error // returned by every BackupAsset attempt
	deployErr             error // returned by every DeployAsset attempt
	unhealthyAfterDeploy  bool  // VerifyAsset reports unhealthy once the patch is installed
	restoreErr            error // returned by every RestoreAsset attempt
	unhealthyAfterRestore bool  // VerifyAsset reports unhealthy after a restore
	restored              bool
}

// call is one activity invocation with the workflow time it ran at.
type call[T any] struct {
	In      T
	At      time.Time
	Attempt int32
	Seq     int // order among all recorded activity calls
}

// harness is a test workflow environment with every activity mocked against a fake plant. Each
// mock records its input and the workflow time (env.Now) it ran at.
type harness struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	plan    activities.CampaignPlan
	mu      sync.Mutex
	seq     int
	devices map[string]*device
	// approvalErr, when set, is what RecordApproval returns.
	approvalErr func(activities.ApprovalInput) error
	// deployTakes is how much workflow time each DeployAsset attempt takes.
	deployTakes time.Duration

	operatorActions []call[activities.OperatorActionInput]
	replans         []call[activities.ReplanInput]
	waivers         []call[activities.WaiverInput]
	unbacked        []call[activities.UnbackedDeployInput]

	statuses    []call[activities.StatusInput]
	windows     []call[activities.WindowInput]
	approvals   []call[activities.ApprovalInput]
	assetStates []call[activities.AssetStateInput]
	backups     []call[activities.AssetInput]
	deploys     []call[activities.DeployInput]
	verifies    []call[activities.VerifyInput]
	restores    []call[activities.RestoreInput]
	qualifies   []call[activities.QualifyInput]
	checks      []call[activities.CheckInput]
	prepares    []call[activities.PrepareInput]
	notStarted  []call[activities.EndInput]
}

func newHarness(t *testing.T, plan activities.CampaignPlan) *harness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Campaign)
	env.RegisterWorkflow(AssetDeployment)
	env.RegisterWorkflow(PatchQualification)
	env.RegisterActivity(&activities.Activities{})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: CampaignWorkflowID(plan.CampaignID), TaskQueue: TaskQueue})

	h := &harness{t: t, env: env, plan: plan, devices: map[string]*device{}}
	for _, tg := range plan.Targets {
		h.devices[tg.AssetID] = &device{version: fromVersion}
	}

	env.OnActivity(a.LoadCampaign, mock.Anything, plan.CampaignID).Return(plan, nil)
	env.OnActivity(a.LoadCampaignOutline, mock.Anything, plan.CampaignID).Return(activities.OutlineOf(plan, true), nil)
	env.OnActivity(a.LoadWaveTargets, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.WaveTargetsInput) ([]activities.Target, error) {
		return activities.WavePage(plan, in.Wave, in.Offset, in.Limit)
	})
	// Every asset's device work runs centrally here; site routes run against real workers (api).
	env.OnActivity(a.RouteAsset, mock.Anything, mock.Anything).Return(activities.Route{}, nil)
	env.OnActivity(a.SetCampaignStatus, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.StatusInput) error {
			record(h, &h.statuses, ctx, in)
			return nil
		})
	env.OnActivity(a.SetNextWindow, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.WindowInput) error {
			record(h, &h.windows, ctx, in)
			return nil
		})
	env.OnActivity(a.RecordApproval, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.ApprovalInput) error {
			record(h, &h.approvals, ctx, in)
			if h.approvalErr != nil {
				return h.approvalErr(in)
			}
			return nil
		})
	env.OnActivity(a.RecordOperatorAction, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.OperatorActionInput) error {
			record(h, &h.operatorActions, ctx, in)
			return nil
		})
	env.OnActivity(a.ReplanCampaign, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.ReplanInput) (activities.ReplanResult, error) {
			record(h, &h.replans, ctx, in)
			sum := sha256.Sum256([]byte(testDigest + in.ZoneID + in.Window.Cron))
			return activities.ReplanResult{PlanDigest: hex.EncodeToString(sum[:]), Changed: true}, nil
		})
	env.OnActivity(a.WaiveBackup, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.WaiverInput) (activities.ReplanResult, error) {
			record(h, &h.waivers, ctx, in)
			sum := sha256.Sum256([]byte(testDigest + "waiver " + in.Waiver.AssetID))
			name := in.Waiver.Name
			for _, t := range plan.Targets {
				if t.AssetID == in.Waiver.AssetID && name == "" {
					name = t.Name // as domain.Plan.WithWaiver names it
				}
			}
			return activities.ReplanResult{PlanDigest: hex.EncodeToString(sum[:]), Changed: true, Name: name}, nil
		})
	env.OnActivity(a.RecordUnbackedDeploy, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.UnbackedDeployInput) error {
			record(h, &h.unbacked, ctx, in)
			return nil
		})
	env.OnActivity(a.SetAssetState, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.AssetStateInput) error {
			record(h, &h.assetStates, ctx, in)
			return nil
		})
	env.OnActivity(a.BackupAsset, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.AssetInput) (activities.BackupResult, error) {
			record(h, &h.backups, ctx, in)
			d := h.device(in.AssetID)
			h.mu.Lock()
			defer h.mu.Unlock()
			if d.backupErr != nil {
				return activities.BackupResult{}, d.backupErr
			}
			return activities.BackupResult{Key: backupKey(in.CampaignID, in.AssetID), SHA256: backupSHA(in.AssetID), Size: 4096, Version: d.version}, nil
		})
	env.OnActivity(a.DeployAsset, mock.Anything, mock.Anything).AfterFn(func() time.Duration { return h.deployTakes }).Return(
		func(ctx context.Context, in activities.DeployInput) error {
			record(h, &h.deploys, ctx, in)
			d := h.device(in.AssetID)
			h.mu.Lock()
			defer h.mu.Unlock()
			if d.deployErr != nil {
				return d.deployErr
			}
			d.version = in.ToVersion
			return nil
		})
	env.OnActivity(a.VerifyAsset, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.VerifyInput) (adapters.VerifyResult, error) {
			record(h, &h.verifies, ctx, in)
			d := h.device(in.AssetID)
			h.mu.Lock()
			defer h.mu.Unlock()
			healthy := !(d.restored && d.unhealthyAfterRestore) && !(!d.restored && d.version == toVersion && d.unhealthyAfterDeploy)
			res := adapters.VerifyResult{Version: d.version, Healthy: healthy}
			if !healthy {
				res.Detail = "process value watchdog tripped"
			} else if d.version != in.Expect {
				res.Healthy, res.Detail = false, fmt.Sprintf("reports version %s, expected %s", d.version, in.Expect)
			}
			return res, nil
		})
	env.OnActivity(a.MarkNotStarted, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.EndInput) error {
			record(h, &h.notStarted, ctx, in)
			return nil
		})
	env.OnActivity(a.CheckInstalled, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.CheckInput) (activities.CheckResult, error) {
			record(h, &h.checks, ctx, in)
			d := h.device(in.AssetID)
			h.mu.Lock()
			defer h.mu.Unlock()
			return activities.CheckResult{Version: d.version, Drifted: d.version != in.FromVersion}, nil
		})
	env.OnActivity(a.PrepareBench, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.PrepareInput) error {
			record(h, &h.prepares, ctx, in)
			d := h.device(in.AssetID)
			h.mu.Lock()
			defer h.mu.Unlock()
			d.version = in.Baseline.Version
			return nil
		})
	env.OnActivity(a.RestoreAsset, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.RestoreInput) error {
			record(h, &h.restores, ctx, in)
			d := h.device(in.AssetID)
			h.mu.Lock()
			defer h.mu.Unlock()
			if d.restoreErr != nil {
				return d.restoreErr
			}
			d.version, d.restored = fromVersion, true
			return nil
		})
	return h
}

func record[T any](h *harness, to *[]call[T], ctx context.Context, in T) {
	c := call[T]{In: in, At: h.env.Now(), Attempt: activity.GetInfo(ctx).Attempt}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	c.Seq = h.seq
	*to = append(*to, c)
}

func (h *harness) device(assetID string) *device {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.devices[assetID]
	if !ok {
		d = &device{version: fromVersion}
		h.devices[assetID] = d
	}
	return d
}

func backupKey(campaignID, assetID string) string {
	return fmt.Sprintf("backups/%s/%s.bin", campaignID, assetID)
}

func backupSHA(assetID string) string {
	sum := sha256.Sum256([]byte("backup of " + assetID))
	return hex.EncodeToString(sum[:])
}

// at is when to send something, relative to the workflow's start.
func (h *harness) at(d time.Duration, f func()) { h.env.RegisterDelayedCallback(f, d) }

// outcome is what happened to one update.
type outcome struct {
	id       string
	accepted bool
	refused  error
	done     bool
	resp     DecisionResponse
	err      error
}

// rule is the policy rule that refused the update ("" when it was not refused).
func (o *outcome) rule() string {
	if o == nil {
		return ""
	}
	return refusalRule(o.refused)
}

// refusalRule is the policy rule that refused an update ("" when err is no refusal).
func refusalRule(err error) string {
	var ae *temporal.ApplicationError
	if err == nil || !errors.As(err, &ae) {
		return ""
	}
	return strings.TrimPrefix(ae.Type(), RefusalErrorPrefix)
}

// decide sends a decision as an update; call it from a delayed callback.
func (h *harness) decide(updateID string, req DecisionRequest) *outcome {
	o := &outcome{id: updateID}
	h.env.UpdateWorkflow(UpdateDecision, updateID, &testsuite.TestUpdateCallback{
		OnAccept: func() { o.accepted = true },
		OnReject: func(err error) { o.refused = err },
		OnComplete: func(v any, err error) {
			o.done, o.err = true, err
			if r, ok := v.(DecisionResponse); ok {
				o.resp = r
			} else if err == nil {
				h.t.Errorf("update %s completed with %T, want DecisionResponse", updateID, v)
			}
		},
	}, req)
	return o
}

// status queries the running campaign.
func (h *harness) status() CampaignStatus {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(QueryStatus)
	if err != nil {
		h.t.Fatalf("query %s: %v", QueryStatus, err)
	}
	var s CampaignStatus
	if err := v.Get(&s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

// run executes the campaign workflow and returns its result; it fails the test when the
// workflow did not complete or returned an error.
func (h *harness) run() CampaignResult {
	h.t.Helper()
	h.env.ExecuteWorkflow(Campaign, CampaignInput{CampaignID: h.plan.CampaignID})
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("campaign workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatalf("campaign workflow failed: %v", err)
	}
	var res CampaignResult
	if err := h.env.GetWorkflowResult(&res); err != nil {
		h.t.Fatal(err)
	}
	return res
}

func (h *harness) statusList() []domain.CampaignStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]domain.CampaignStatus, len(h.statuses))
	for i, s := range h.statuses {
		out[i] = s.In.Status
	}
	return out
}

// statusCall is the first recorded SetCampaignStatus to s.
func (h *harness) statusCall(s domain.CampaignStatus) (call[activities.StatusInput], bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.statuses {
		if c.In.Status == s {
			return c, true
		}
	}
	return call[activities.StatusInput]{}, false
}

// deploysOf is every DeployAsset attempt on assetID.
func (h *harness) deploysOf(assetID string) []call[activities.DeployInput] {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []call[activities.DeployInput]
	for _, c := range h.deploys {
		if c.In.AssetID == assetID {
			out = append(out, c)
		}
	}
	return out
}

// touched is every asset any backup or deploy ran on.
func (h *harness) touched() map[string]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]bool{}
	for _, c := range h.backups {
		out[c.In.AssetID] = true
	}
	for _, c := range h.deploys {
		out[c.In.AssetID] = true
	}
	return out
}

// window is a zone's maintenance window in Europe/Zurich.
func window(cron string, d time.Duration, maxParallel int) domain.Window {
	return domain.Window{Cron: cron, Duration: domain.Duration(d), TimeZone: "Europe/Zurich", MaxParallel: maxParallel}
}

func target(id, zone string, slt, crit int, w domain.Window, expected time.Duration) activities.Target {
	return activities.Target{AssetID: id, Name: strings.ToUpper(id), ZoneID: zone, SLT: slt, Criticality: crit, Window: w, Expected: expected}
}

func benchTarget(id string) activities.Target {
	t := target(id, "bench", 1, 1, window("0 8 * * 1-5", 8*time.Hour, 4), 10*time.Minute)
	t.TestBench = true
	return t
}

// newPlan is a plan created by eve whose policy is derived from the targets' SL-T as LoadCampaign does.
func newPlan(targets ...activities.Target) activities.CampaignPlan {
	var p domain.Plan
	for _, t := range targets {
		p.Targets = append(p.Targets, domain.PlanTarget{AssetID: t.AssetID, ZoneID: t.ZoneID, SLT: t.SLT, SafetyCritical: t.SafetyCritical, TestBench: t.TestBench, Window: t.Window})
	}
	return activities.CampaignPlan{CampaignID: testCampaign, PatchID: "pat1", CreatedBy: eve.Name, PlanDigest: testDigest,
		Policy: domain.PolicyFor(p, 0), ToVersion: toVersion, ArtifactSHA256: strings.Repeat("ab", 32), Targets: targets}
}

func approve(who domain.Actor) DecisionRequest {
	return DecisionRequest{Actor: who, Decision: "approve", PlanDigest: testDigest}
}

// approveDigest is who's approval of the plan with digest (after the plan changed).
func approveDigest(who domain.Actor, digest string) DecisionRequest {
	return DecisionRequest{Actor: who, Decision: "approve", PlanDigest: digest}
}

func reject(who domain.Actor, reason string) DecisionRequest {
	return DecisionRequest{Actor: who, Decision: "reject", Reason: reason, PlanDigest: testDigest}
}

// errAdapter is a retryable failure of the device or its adapter.
func errAdapter(msg string) error { return errors.New(msg) }

// errNoBackup is the NoVerifiedBackup failure of BackupAsset and RestoreAsset. It is not marked
// non-retryable itself, so that only the workflow's RetryPolicy.NonRetryableErrorTypes stops
// the retries.
func errNoBackup() error {
	return temporal.NewApplicationError("backup of asset does not verify; no deploy without a verified backup", activities.ErrTypeNoBackup)
}

// reply is what happened to one update answered with R.
type reply[R any] struct {
	accepted bool
	refused  error
	done     bool
	resp     R
	err      error
}

func (o *reply[R]) rule() string {
	if o == nil {
		return ""
	}
	return refusalRule(o.refused)
}

// send sends update name with arg; call it from a delayed callback.
func send[R any](h *harness, name, updateID string, arg any) *reply[R] {
	o := &reply[R]{}
	h.env.UpdateWorkflow(name, updateID, &testsuite.TestUpdateCallback{
		OnAccept: func() { o.accepted = true },
		OnReject: func(err error) { o.refused = err },
		OnComplete: func(v any, err error) {
			o.done, o.err = true, err
			if r, ok := v.(R); ok {
				o.resp = r
			}
		},
	}, arg)
	return o
}

// operation is what happened to one operator update.
type operation = reply[OperatorResponse]

// operate sends a pause, resume or abort; call it from a delayed callback.
func (h *harness) operate(name, updateID string, req OperatorRequest) *operation {
	return send[OperatorResponse](h, name, updateID, req)
}

// changeWindow sends a window change; call it from a delayed callback.
func (h *harness) changeWindow(updateID string, ch WindowChange) *WindowChangeResponse {
	out := &WindowChangeResponse{}
	h.env.UpdateWorkflow(UpdateWindow, updateID, &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { h.t.Errorf("window change %s refused: %v", updateID, err) },
		OnComplete: func(v any, err error) {
			if err != nil {
				h.t.Errorf("window change %s: %v", updateID, err)
			}
			if r, ok := v.(WindowChangeResponse); ok {
				*out = r
			}
		},
	}, ch)
	return out
}

// waiver is what happened to one backup waiver.
type waiver = reply[BackupWaiverResponse]

// waive sends a backup waiver; call it from a delayed callback.
func (h *harness) waive(updateID string, req BackupWaiverRequest) *waiver {
	return send[BackupWaiverResponse](h, UpdateBackupWaiver, updateID, req)
}

// completePlan gives p what plans computed from the live inventory carry: each target's
// from-version, the bench run and the production waves with their thresholds.
func completePlan(p activities.CampaignPlan) activities.CampaignPlan {
	var prod []activities.Target
	for i := range p.Targets {
		t := &p.Targets[i]
		t.FromVersion = fromVersion
		if t.TestBench {
			t.Bench = &domain.BenchRun{AssetID: t.AssetID, Name: t.Name, FromVersion: fromVersion, Prepare: domain.PrepareAsIs}
		} else {
			prod = append(prod, *t)
		}
	}
	for _, w := range planWaves(prod) {
		pw := domain.PlanWave{ZoneID: w.zone}
		for _, t := range w.targets {
			pw.AssetIDs = append(pw.AssetIDs, t.AssetID)
		}
		p.Waves = append(p.Waves, pw)
	}
	return p
}
