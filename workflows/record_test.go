//go:build histories

package workflows

// Records the workflow histories that TestReplayHistories replays, by running campaigns on an
// embedded Temporal server with a real worker and fake activities. It takes about three minutes
// of wall time (every campaign waits for one window that opens two to three minutes after the
// start) and is built only with the histories tag:
//
//	go test -tags histories -run TestRecordHistories ./workflows/ -history-prefix v2
//
// Record a new set (a new prefix) whenever workflow code changes, and keep the old ones: the
// replay test then proves old histories still replay.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/temporalembed"
)

var historyPrefix = flag.String("history-prefix", "", "file name prefix of the recorded histories in testdata/ (v2, v3, …); required")

// recordActivities has the activity names and signatures of activities.Activities, with a fake
// plant behind them: assets whose id starts with "bad" fail verification of the new version,
// assets whose id starts with "nobackup" fail their backup with NoVerifiedBackup, and the deploys
// in holds run (heartbeating) until the test releases them or the workflow cancels them. Each
// step leaves a mark the test can wait for.
type recordActivities struct {
	plans map[string]activities.CampaignPlan
	// holds are the deploys, by "campaign/asset", that wait for their channel to close.
	holds map[string]chan struct{}

	mu    sync.Mutex
	marks map[string]chan struct{}
	// results are what air-gapped sites reported, by campaign (ReadSiteResults).
	results map[string]activities.SiteResults
}

// notRecorded are the activities the recorded workflows never call.
var notRecorded = map[string]bool{"QualifyPatch": true, "SyncFeed": true}

func assetKey(campaignID, assetID string) string { return campaignID + "/" + assetID }

// mark records that a step happened: "deploying rec-paused/plc1", "done rec-aborted/plc1".
func (r *recordActivities) mark(name string) {
	ch := r.markChan(name)
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (r *recordActivities) markChan(name string) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch, ok := r.marks[name]
	if !ok {
		ch = make(chan struct{})
		r.marks[name] = ch
	}
	return ch
}

// awaitMark waits until the step name happened.
func (r *recordActivities) awaitMark(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	select {
	case <-r.markChan(name):
	case <-ctx.Done():
		t.Fatalf("%q never happened", name)
	}
}

func (r *recordActivities) LoadCampaign(_ context.Context, id string) (activities.CampaignPlan, error) {
	p, ok := r.plans[id]
	if !ok {
		return p, fmt.Errorf("no campaign %s", id)
	}
	return p, nil
}
func (r *recordActivities) LoadCampaignOutline(_ context.Context, id string) (activities.CampaignOutline, error) {
	p, ok := r.plans[id]
	if !ok {
		return activities.CampaignOutline{}, fmt.Errorf("no campaign %s", id)
	}
	return activities.OutlineOf(p, len(p.Waves) > 0), nil
}
func (r *recordActivities) LoadWaveTargets(_ context.Context, in activities.WaveTargetsInput) ([]activities.Target, error) {
	p, ok := r.plans[in.CampaignID]
	if !ok {
		return nil, fmt.Errorf("no campaign %s", in.CampaignID)
	}
	return activities.WavePage(p, in.Wave, in.Offset, in.Limit)
}
func (r *recordActivities) SetCampaignStatus(context.Context, activities.StatusInput) error {
	return nil
}
func (r *recordActivities) SetNextWindow(context.Context, activities.WindowInput) error { return nil }
func (r *recordActivities) RecordApproval(context.Context, activities.ApprovalInput) error {
	return nil
}
func (r *recordActivities) RecordOperatorAction(context.Context, activities.OperatorActionInput) error {
	return nil
}

// ReplanCampaign answers a window change with a digest derived from the old one and the window.
func (r *recordActivities) ReplanCampaign(_ context.Context, in activities.ReplanInput) (activities.ReplanResult, error) {
	sum := sha256.Sum256([]byte(r.plans[in.CampaignID].PlanDigest + in.ZoneID + in.Window.Cron + time.Duration(in.Window.Duration).String()))
	return activities.ReplanResult{PlanDigest: hex.EncodeToString(sum[:]), Changed: true}, nil
}
func (r *recordActivities) WaiveBackup(_ context.Context, in activities.WaiverInput) (activities.ReplanResult, error) {
	sum := sha256.Sum256([]byte(r.plans[in.CampaignID].PlanDigest + "waiver " + in.Waiver.AssetID))
	return activities.ReplanResult{PlanDigest: hex.EncodeToString(sum[:]), Changed: true}, nil
}
func (r *recordActivities) SetAssetState(_ context.Context, in activities.AssetStateInput) error {
	r.mark(string(in.State) + " " + assetKey(in.CampaignID, in.AssetID))
	return nil
}
func (r *recordActivities) BackupAsset(_ context.Context, in activities.AssetInput) (activities.BackupResult, error) {
	if strings.HasPrefix(in.AssetID, "nobackup") {
		return activities.BackupResult{}, temporal.NewNonRetryableApplicationError(
			"backup of "+in.AssetID+" does not verify (SHA-256 differs after read-back); no deploy without a verified backup", activities.ErrTypeNoBackup, nil)
	}
	return activities.BackupResult{Key: backupKey(in.CampaignID, in.AssetID), SHA256: backupSHA(in.AssetID), Size: 4096, Version: fromVersion}, nil
}
func (r *recordActivities) RecordUnbackedDeploy(context.Context, activities.UnbackedDeployInput) error {
	return nil
}
func (r *recordActivities) DeployAsset(ctx context.Context, in activities.DeployInput) error {
	key := assetKey(in.CampaignID, in.AssetID)
	r.mark("deploying " + key)
	release, held := r.holds[key]
	if !held {
		return nil
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		activity.RecordHeartbeat(ctx)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
func (r *recordActivities) VerifyAsset(_ context.Context, in activities.VerifyInput) (adapters.VerifyResult, error) {
	if strings.HasPrefix(in.AssetID, "bad") && in.Expect == toVersion {
		return adapters.VerifyResult{Version: toVersion, Healthy: false, Detail: "process value watchdog tripped"}, nil
	}
	return adapters.VerifyResult{Version: in.Expect, Healthy: true}, nil
}
func (r *recordActivities) RestoreAsset(context.Context, activities.RestoreInput) error { return nil }
func (r *recordActivities) CheckInstalled(_ context.Context, in activities.CheckInput) (activities.CheckResult, error) {
	return activities.CheckResult{Version: in.FromVersion}, nil
}
func (r *recordActivities) PrepareBench(context.Context, activities.PrepareInput) error { return nil }

// recordSiteQueue is the task queue of the recorded plant's one site with a site worker.
const recordSiteQueue = "otpatch-site-site_rec"

// RouteAsset sends the device work of assets named "site-…" to the site worker's queue and of
// assets named "unreachable-…" to a site no worker polls; every other asset's stays central.
func (r *recordActivities) RouteAsset(_ context.Context, in activities.AssetInput) (activities.Route, error) {
	ref := activities.DeviceRef{AssetInput: in, Name: in.AssetID, Adapter: adapters.SSH, InstalledVersion: fromVersion,
		Endpoint: &adapters.Endpoint{Address: "10.20.0.15:22", User: "otpatch", BackupPaths: []string{"/etc/gateway"}}}
	switch {
	case strings.HasPrefix(in.AssetID, "site-"):
		return activities.Route{TaskQueue: recordSiteQueue, SiteID: "site_rec", SiteName: "Plant R", UnreachableAfter: time.Hour, Ref: ref}, nil
	case strings.HasPrefix(in.AssetID, "unreachable-"):
		return activities.Route{TaskQueue: "otpatch-site-site_dark", SiteID: "site_dark", SiteName: "Plant D", UnreachableAfter: 3 * time.Second, Ref: ref}, nil
	}
	return activities.Route{}, nil
}
func (r *recordActivities) BeginDeviceStep(context.Context, activities.DeviceStepInput) error {
	return nil
}
func (r *recordActivities) EndDeviceStep(context.Context, activities.DeviceStepInput) error {
	return nil
}
func (r *recordActivities) SiteUnreachable(_ context.Context, in activities.UnreachableInput) error {
	r.mark(string(domain.AssetSiteUnreachable) + " " + assetKey(in.CampaignID, in.AssetID))
	return nil
}

// recordDevice is the recorded site worker: the same fake plant, reached through the site's
// queue; assets whose name holds "bad" fail verification of the new version.
type recordDevice struct{}

var recordReport = activities.DeviceReport{Worker: "otpatch-site-worker site=site_rec version=rec host=rec-gw pid=1",
	Output: []activities.DeviceLine{{Stream: "device", Text: "ok\n"}}}

func (recordDevice) DeviceCheck(_ context.Context, in activities.DeviceCheckInput) (activities.DeviceCheckResult, error) {
	return activities.DeviceCheckResult{CheckResult: activities.CheckResult{Version: in.FromVersion}, DeviceReport: recordReport}, nil
}
func (recordDevice) DevicePrepare(context.Context, activities.DevicePrepareInput) (activities.DeviceReport, error) {
	return recordReport, nil
}
func (recordDevice) DeviceBackup(_ context.Context, ref activities.DeviceRef) (activities.DeviceBackupResult, error) {
	return activities.DeviceBackupResult{BackupResult: activities.BackupResult{Key: backupKey(ref.CampaignID, ref.AssetID), SHA256: backupSHA(ref.AssetID),
		Size: 4096, Version: fromVersion}, DeviceReport: recordReport}, nil
}
func (recordDevice) DeviceDeploy(context.Context, activities.DeviceDeployInput) (activities.DeviceReport, error) {
	return recordReport, nil
}
func (recordDevice) DeviceVerify(_ context.Context, in activities.DeviceVerifyInput) (activities.DeviceVerifyResult, error) {
	if strings.Contains(in.Ref.AssetID, "bad") && in.Expect == toVersion {
		return activities.DeviceVerifyResult{VerifyResult: adapters.VerifyResult{Version: toVersion, Detail: "process value watchdog tripped"}, DeviceReport: recordReport}, nil
	}
	return activities.DeviceVerifyResult{VerifyResult: adapters.VerifyResult{Version: in.Expect, Healthy: true}, DeviceReport: recordReport}, nil
}
func (recordDevice) DeviceRestore(context.Context, activities.DeviceRestoreInput) (activities.DeviceReport, error) {
	return recordReport, nil
}
func (r *recordActivities) ReadSiteResults(_ context.Context, id string) (activities.SiteResults, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.results[id], nil
}
func (r *recordActivities) MarkNotStarted(context.Context, activities.EndInput) error { return nil }
func (r *recordActivities) WindowOccurrence(ctx context.Context, in activities.OccurrenceInput) (activities.OccurrenceResult, error) {
	return (&activities.Activities{}).WindowOccurrence(ctx, in)
}

// checkRecordActivities fails when recordActivities and activities.Activities disagree: an
// activity the workflows may call is missing or has another signature, or a fake has a name
// no activity has.
func checkRecordActivities(t *testing.T) {
	t.Helper()
	real, fake := reflect.TypeFor[*activities.Activities](), reflect.TypeFor[*recordActivities]()
	for i := range real.NumMethod() {
		m := real.Method(i)
		if notRecorded[m.Name] {
			continue
		}
		f, ok := fake.MethodByName(m.Name)
		if !ok {
			t.Errorf("recordActivities has no %s %s; add a fake of it", m.Name, m.Type)
			continue
		}
		if !sameSignature(m.Type, f.Type) {
			t.Errorf("recordActivities.%s is %s, activities.Activities.%s is %s", m.Name, f.Type, m.Name, m.Type)
		}
	}
	for i := range fake.NumMethod() {
		// Exported methods only: the worker registers every one of them as an activity.
		if name := fake.Method(i).Name; !hasMethod(real, name) {
			t.Errorf("recordActivities.%s is not an activity of activities.Activities", name)
		}
	}
}

func hasMethod(t reflect.Type, name string) bool {
	_, ok := t.MethodByName(name)
	return ok
}

// sameSignature compares two method types without their receivers.
func sameSignature(a, b reflect.Type) bool {
	if a.NumIn() != b.NumIn() || a.NumOut() != b.NumOut() {
		return false
	}
	for i := 1; i < a.NumIn(); i++ {
		if a.In(i) != b.In(i) {
			return false
		}
	}
	for i := range a.NumOut() {
		if a.Out(i) != b.Out(i) {
			return false
		}
	}
	return true
}

// recording is one embedded server, worker and fake plant shared by every scenario.
type recording struct {
	ctx   context.Context
	t     *testing.T
	c     client.Client
	plant *recordActivities
}

// scenario is one recorded campaign: its production targets (a test-bench asset is added), what
// an engineer or approver does once it is approved and before its window opens, what they do
// while the window is open, and how it must end.
type scenario struct {
	name         string // the campaign is "rec-<name>", its histories <prefix>-campaign-<name>.json
	targets      []activities.Target
	beforeWindow func(r *recording, id string)
	inWindow     func(r *recording, id string)
	// plan changes the scenario's plan; preapproved plans need no decision (imported ones).
	plan        func(p *activities.CampaignPlan)
	preapproved bool
	// input changes how the campaign's workflow starts; a campaign that continues as new has a
	// history per execution, <prefix>-campaign-<name>-<n>.json.
	input  func(in *CampaignInput)
	status domain.CampaignStatus
	detail string // a part of the result's detail
}

func TestRecordHistories(t *testing.T) {
	if *historyPrefix == "" {
		t.Fatal("name the set to record: -history-prefix v2 (a prefix not used in testdata/ yet, so older sets stay as recorded)")
	}
	checkRecordActivities(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	srv, err := temporalembed.Start(ctx, temporalembed.Config{DBPath: filepath.Join(t.TempDir(), "temporal.db"), FrontendAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.HostPort(), Namespace: srv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// One daily window that opens at least 90 s from now, so every campaign sleeps on a timer
	// first and the steps before the window have time to run.
	loc := zurich(t)
	opens := time.Now().In(loc).Truncate(time.Minute).Add(2 * time.Minute)
	if time.Until(opens) < 90*time.Second {
		opens = opens.Add(time.Minute)
	}
	w := window(fmt.Sprintf("%d %d * * *", opens.Minute(), opens.Hour()), 30*time.Minute, 2)
	oneAtATime := w
	oneAtATime.MaxParallel = 1

	scenarios := []scenario{
		{
			// A campaign that loads one target at a time and continues as new after each page:
			// three executions, each going on where the one before stopped.
			name: "continued",
			targets: []activities.Target{target("plc1", "line1", 1, 1, w, time.Minute), target("plc2", "line1", 1, 2, w, time.Minute),
				target("plc3", "line1", 1, 3, w, time.Minute)},
			input:  func(in *CampaignInput) { in.PageSize, in.HistoryLimit = 1, 1 },
			status: domain.CampaignCompleted, detail: "3 assets patched and verified",
		},
		{name: "completed", targets: []activities.Target{target("plc1", "line1", 1, 1, w, time.Minute)}, status: domain.CampaignCompleted},
		{name: "rolled-back", targets: []activities.Target{target("bad-plc1", "line1", 1, 1, w, time.Minute)}, status: domain.CampaignRolledBack},
		// Device work on a site's own worker: patched, rolled back through the site, and a site
		// without a worker, whose asset ends site_unreachable with nothing deployed.
		{name: "site", targets: []activities.Target{target("site-plc1", "line1", 1, 1, w, time.Minute)}, status: domain.CampaignCompleted},
		{name: "site-rolled-back", targets: []activities.Target{target("site-bad-plc1", "line1", 1, 1, w, time.Minute)}, status: domain.CampaignRolledBack},
		{name: "site-unreachable", targets: []activities.Target{target("unreachable-plc1", "line1", 1, 1, w, time.Minute)}, status: domain.CampaignRolledBack},
		{
			// The central instance's side of a plan carried to an air-gapped site: approved
			// here, then the site's results, imported, end it.
			name:    "carried",
			targets: []activities.Target{target("plc1", "line1", 1, 1, w, time.Minute)},
			plan:    func(p *activities.CampaignPlan) { p.TransferSite = "plant-x" },
			beforeWindow: func(r *recording, id string) {
				waitForStatus(r.ctx, r.t, r.c, CampaignWorkflowID(id), domain.CampaignScheduled)
				r.plant.mu.Lock()
				r.plant.results[id] = activities.SiteResults{Returned: true, Sequence: 1, Status: domain.CampaignCompleted, Detail: "1 assets patched and verified",
					Assets: map[string]domain.AssetState{"bench1": domain.AssetDone, "plc1": domain.AssetDone}}
				r.plant.mu.Unlock()
				if err := r.c.SignalWorkflow(r.ctx, CampaignWorkflowID(id), "", SignalSiteResults, nil); err != nil {
					r.t.Fatal(err)
				}
			},
			status: domain.CampaignCompleted, detail: "at site plant-x",
		},
		{
			// The site's side: the plan came with its approval, which counts here.
			name:        "imported",
			targets:     []activities.Target{target("plc1", "line1", 1, 1, w, time.Minute)},
			preapproved: true,
			plan: func(p *activities.CampaignPlan) {
				p.Imported = true
				p.ImportedApprovals = []domain.Approval{{Actor: bob.Name, Role: bob.Role, PlanDigest: p.PlanDigest, At: time.Now().UTC()}}
			},
			status: domain.CampaignCompleted,
		},
		{
			// An engineer pauses while plc1 deploys: plc1 finishes, plc2 waits for the resume.
			name:    "paused",
			targets: []activities.Target{target("plc1", "line1", 1, 1, oneAtATime, time.Minute), target("plc2", "line1", 1, 2, oneAtATime, time.Minute)},
			inWindow: func(r *recording, id string) {
				r.plant.awaitMark(r.ctx, r.t, "deploying "+assetKey(id, "plc1"))
				r.operate(id, UpdatePause, OperatorRequest{Actor: ed, Reason: "operator on line 1 asked for a break"})
				close(r.plant.holds[assetKey(id, "plc1")])
				waitForStatus(r.ctx, r.t, r.c, CampaignWorkflowID(id), CampaignPaused)
				r.operate(id, UpdateResume, OperatorRequest{Actor: ed})
			},
			status: domain.CampaignCompleted, detail: "2 assets patched and verified",
		},
		{
			// An engineer aborts while plc2 deploys: plc1 (verified) stays, plc2 rolls back,
			// plc3 never starts.
			name: "aborted",
			targets: []activities.Target{target("plc1", "line1", 1, 1, w, time.Minute), target("plc2", "line1", 1, 2, w, time.Minute),
				target("plc3", "line1", 1, 3, w, time.Minute)},
			inWindow: func(r *recording, id string) {
				r.plant.awaitMark(r.ctx, r.t, string(domain.AssetDone)+" "+assetKey(id, "plc1"))
				r.plant.awaitMark(r.ctx, r.t, "deploying "+assetKey(id, "plc2"))
				r.operate(id, UpdateAbort, OperatorRequest{Actor: ed, Reason: "vendor recalled the firmware"})
			},
			status: domain.CampaignAborted, detail: "1 verified assets left as they are, 1 restored after abort, 1 not started",
		},
		{
			// The backup of nobackup-plc1 fails; it deploys under an engineer's waiver, which
			// changes the plan of the approved campaign: it deploys once the new plan is approved.
			name:    "waiver",
			targets: []activities.Target{target("nobackup-plc1", "line1", 1, 1, w, time.Minute)},
			beforeWindow: func(r *recording, id string) {
				wfID := CampaignWorkflowID(id)
				waitForStatus(r.ctx, r.t, r.c, wfID, domain.CampaignScheduled)
				var got BackupWaiverResponse
				r.update(id, UpdateBackupWaiver, "waiver", BackupWaiverRequest{Actor: ed, AssetID: "nobackup-plc1",
					Reason: "backup agent cannot read this controller model; the vendor image is on file"}, &got)
				if got.AssetID != "nobackup-plc1" || got.Actor != ed.Name || !got.Replanned || got.ApprovalsVoided != 1 {
					r.t.Fatalf("backup waiver: %+v, want replanned with 1 approval voided", got)
				}
				waitForStatus(r.ctx, r.t, r.c, wfID, domain.CampaignAwaitingApproval)
				r.decide(id, "approve-again", approveDigest(bob, got.PlanDigest))
			},
			status: domain.CampaignCompleted,
		},
		{
			// An engineer lengthens the window while the approved campaign waits for it: the
			// plan changes, and the campaign waits for an approval of the new plan.
			name:    "replanned",
			targets: []activities.Target{target("plc1", "line1", 1, 1, w, time.Minute)},
			beforeWindow: func(r *recording, id string) {
				wfID := CampaignWorkflowID(id)
				waitForStatus(r.ctx, r.t, r.c, wfID, domain.CampaignScheduled)
				longer := w
				longer.Duration = domain.Duration(45 * time.Minute)
				var ch WindowChangeResponse
				r.update(id, UpdateWindow, "window", WindowChange{ZoneID: "line1", Window: longer, Actor: ed}, &ch)
				if !ch.Replanned || ch.ApprovalsVoided != 1 {
					r.t.Fatalf("window change: %+v, want replanned with 1 approval voided", ch)
				}
				waitForStatus(r.ctx, r.t, r.c, wfID, domain.CampaignAwaitingApproval)
				r.decide(id, "approve-again", approveDigest(bob, ch.PlanDigest))
			},
			status: domain.CampaignCompleted,
		},
	}

	plant := &recordActivities{plans: map[string]activities.CampaignPlan{}, marks: map[string]chan struct{}{}, results: map[string]activities.SiteResults{},
		holds: map[string]chan struct{}{assetKey("rec-paused", "plc1"): make(chan struct{}), assetKey("rec-aborted", "plc2"): make(chan struct{})}}
	for _, sc := range scenarios {
		p := completePlan(newPlan(append([]activities.Target{benchTarget("bench1")}, sc.targets...)...))
		p.CampaignID = "rec-" + sc.name
		if sc.plan != nil {
			sc.plan(&p)
		}
		plant.plans[p.CampaignID] = p
	}
	r := &recording{ctx: ctx, t: t, c: c, plant: plant}

	wk := worker.New(c, TaskQueue, worker.Options{})
	wk.RegisterWorkflow(Campaign)
	wk.RegisterWorkflow(AssetDeployment)
	wk.RegisterActivity(plant)
	if err := wk.Start(); err != nil {
		t.Fatal(err)
	}
	defer wk.Stop()
	// Plant R's site worker; Plant D has none.
	sw := worker.New(c, recordSiteQueue, worker.Options{})
	sw.RegisterActivity(&recordDevice{})
	if err := sw.Start(); err != nil {
		t.Fatal(err)
	}
	defer sw.Stop()

	runs, firstRuns := map[string]client.WorkflowRun{}, map[string]string{}
	for _, sc := range scenarios {
		id := "rec-" + sc.name
		in := CampaignInput{CampaignID: id}
		if sc.input != nil {
			sc.input(&in)
		}
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: CampaignWorkflowID(id), TaskQueue: TaskQueue}, Campaign, in)
		if err != nil {
			t.Fatal(err)
		}
		runs[id] = run
		firstRuns[id] = run.GetRunID() // Get follows a continuation and then answers its run
	}
	for _, sc := range scenarios {
		if sc.preapproved {
			continue
		}
		id := "rec-" + sc.name
		waitForStatus(ctx, t, c, CampaignWorkflowID(id), domain.CampaignAwaitingApproval)
		r.decide(id, "approve", approve(alice))
	}
	for _, sc := range scenarios {
		if sc.beforeWindow != nil {
			sc.beforeWindow(r, "rec-"+sc.name)
		}
	}
	if now := time.Now(); !now.Before(opens) {
		t.Fatalf("the window opened at %s, before the steps that must happen while campaigns wait for it had run (now %s)", opens, now)
	}
	t.Logf("campaigns wait for the window at %s (%s from now)", opens.Format(time.RFC3339), time.Until(opens).Round(time.Second))
	for _, sc := range scenarios {
		if sc.inWindow != nil {
			sc.inWindow(r, "rec-"+sc.name)
		}
	}

	for _, sc := range scenarios {
		id := "rec-" + sc.name
		var res CampaignResult
		if err := runs[id].Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %+v", id, res)
		if res.Status != sc.status || !strings.Contains(res.Detail, sc.detail) {
			t.Errorf("%s ended %s (%s), want %s with %q", id, res.Status, res.Detail, sc.status, sc.detail)
		}
		if sc.input != nil {
			runID := firstRuns[id]
			for n := 1; runID != ""; n++ {
				runID = writeHistoryOf(ctx, t, c, CampaignWorkflowID(id), runID, fmt.Sprintf("%s-campaign-%s-%d.json", *historyPrefix, sc.name, n))
			}
		} else {
			writeHistory(ctx, t, c, CampaignWorkflowID(id), fmt.Sprintf("%s-campaign-%s.json", *historyPrefix, sc.name))
		}
		// Each asset that started has its own history; a campaign with one asset keeps the
		// short name <prefix>-asset-<scenario>.json.
		for _, tg := range sc.targets {
			wfID := AssetWorkflowID(id, tg.AssetID)
			if _, err := c.DescribeWorkflowExecution(ctx, wfID, ""); err != nil {
				var nf *serviceerror.NotFound
				if errors.As(err, &nf) {
					continue // never started
				}
				t.Fatal(err)
			}
			name := fmt.Sprintf("%s-asset-%s.json", *historyPrefix, sc.name)
			if len(sc.targets) > 1 {
				name = fmt.Sprintf("%s-asset-%s-%s.json", *historyPrefix, sc.name, tg.AssetID)
			}
			writeHistory(ctx, t, c, wfID, name)
		}
	}
}

// update sends an update and waits for its result in out; a refusal or failure fails the test.
func (r *recording) update(campaignID, name, updateID string, arg, out any) {
	r.t.Helper()
	h, err := r.c.UpdateWorkflow(r.ctx, client.UpdateWorkflowOptions{WorkflowID: CampaignWorkflowID(campaignID), UpdateID: updateID,
		UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		r.t.Fatalf("%s %s of %s: %v", name, updateID, campaignID, err)
	}
	if err := h.Get(r.ctx, out); err != nil {
		r.t.Fatalf("%s %s of %s: %v", name, updateID, campaignID, err)
	}
}

// decide sends an approval that must satisfy the policy.
func (r *recording) decide(campaignID, updateID string, req DecisionRequest) {
	r.t.Helper()
	var resp DecisionResponse
	r.update(campaignID, UpdateDecision, updateID, req, &resp)
	if !resp.Satisfied {
		r.t.Fatalf("approval %s of %s: %+v, want the policy satisfied", updateID, campaignID, resp)
	}
}

// operate sends an engineer's pause, resume or abort.
func (r *recording) operate(campaignID, name string, req OperatorRequest) {
	r.t.Helper()
	var resp OperatorResponse
	r.update(campaignID, name, name, req, &resp)
	r.t.Logf("%s %s: %+v", name, campaignID, resp)
}

func waitForStatus(ctx context.Context, t *testing.T, c client.Client, id string, want domain.CampaignStatus) {
	t.Helper()
	for {
		v, err := c.QueryWorkflow(ctx, id, "", QueryStatus)
		if err == nil {
			var s CampaignStatus
			if err := v.Get(&s); err == nil && s.Status == want {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never reached %s", id, want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func writeHistory(ctx context.Context, t *testing.T, c client.Client, id, name string) {
	t.Helper()
	writeHistoryOf(ctx, t, c, id, "", name)
}

// writeHistoryOf writes the history of run runID of workflow id ("": the latest) and returns
// the run it continued as new with ("" when it did not).
func writeHistoryOf(ctx context.Context, t *testing.T, c client.Client, id, runID, name string) (next string) {
	t.Helper()
	var h historypb.History
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", name), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote testdata/%s (%d events)", name, len(h.Events))
	if n := len(h.Events); n > 0 {
		return h.Events[n-1].GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
	}
	return ""
}
