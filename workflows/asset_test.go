package workflows

import (
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/otpatch/otpatch/activities"
	"github.com/otpatch/otpatch/internal/domain"
)

// TestAssetDeployment runs one asset's child workflow against the fake plant: no deploy without
// a verified backup, and a failed deploy or verification restores exactly the backup that was
// taken, verifies the old version again, and ends rolled_back (or rollback_failed when that
// does not work).
func TestAssetDeployment(t *testing.T) {
	tests := []struct {
		name     string
		fail     func(d *device)
		state    domain.AssetState
		states   []domain.AssetState // SetAssetState calls, in order
		backups  int                 // BackupAsset attempts
		deploys  int                 // DeployAsset attempts
		restores int                 // RestoreAsset attempts
		expects  []string            // VerifyAsset expectations, in order
		errHas   string
		version  string // version reported with the final state
	}{
		{name: "deploys and verifies", fail: func(*device) {},
			state: domain.AssetDone, states: []domain.AssetState{domain.AssetDone},
			backups: 1, deploys: 1, expects: []string{toVersion}, version: toVersion},
		{name: "verification fails, backup restored", fail: func(d *device) { d.unhealthyAfterDeploy = true },
			state: domain.AssetRolledBack, states: []domain.AssetState{domain.AssetFailed, domain.AssetRolledBack},
			backups: 1, deploys: 1, restores: 1, expects: []string{toVersion, fromVersion}, errHas: "verification failed: process value watchdog tripped", version: fromVersion},
		{name: "deploy fails after its retries, backup restored", fail: func(d *device) { d.deployErr = errAdapter("flash write failed") },
			state: domain.AssetRolledBack, states: []domain.AssetState{domain.AssetFailed, domain.AssetRolledBack},
			backups: 1, deploys: 3, restores: 1, expects: []string{fromVersion}, errHas: "deploy failed: flash write failed", version: fromVersion},
		{name: "no verified backup, never deployed", fail: func(d *device) { d.backupErr = errNoBackup() },
			state: domain.AssetFailed, states: []domain.AssetState{domain.AssetFailed},
			backups: 1, errHas: "no verified backup, so nothing was deployed"},
		{name: "backup keeps failing, never deployed", fail: func(d *device) { d.backupErr = errAdapter("connection reset") },
			state: domain.AssetFailed, states: []domain.AssetState{domain.AssetFailed},
			backups: 3, errHas: "no verified backup, so nothing was deployed: connection reset"},
		{name: "restore fails after its retries", fail: func(d *device) { d.unhealthyAfterDeploy, d.restoreErr = true, errAdapter("device unreachable") },
			state: domain.AssetRollbackFailed, states: []domain.AssetState{domain.AssetFailed, domain.AssetRollbackFailed},
			backups: 1, deploys: 1, restores: 5, expects: []string{toVersion}, errHas: "restore failed: device unreachable; manual action needed"},
		{name: "backup changed in storage, restore refused", fail: func(d *device) { d.unhealthyAfterDeploy, d.restoreErr = true, errNoBackup() },
			state: domain.AssetRollbackFailed, states: []domain.AssetState{domain.AssetFailed, domain.AssetRollbackFailed},
			backups: 1, deploys: 1, restores: 1, expects: []string{toVersion}, errHas: "manual action needed"},
		{name: "restored asset does not verify", fail: func(d *device) { d.unhealthyAfterDeploy, d.unhealthyAfterRestore = true, true },
			state: domain.AssetRollbackFailed, states: []domain.AssetState{domain.AssetFailed, domain.AssetRollbackFailed},
			backups: 1, deploys: 1, restores: 1, expects: []string{toVersion, fromVersion}, errHas: "after restore the asset does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, newPlan(target("plc1", "line1", 2, 2, window("0 2 * * 0", 4*time.Hour, 1), 30*time.Minute)))
			wfID := AssetWorkflowID(testCampaign, "plc1")
			h.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: wfID, TaskQueue: TaskQueue})
			tt.fail(h.device("plc1"))

			h.env.ExecuteWorkflow(AssetDeployment, AssetDeploymentInput{CampaignID: testCampaign, AssetID: "plc1",
				PatchID: "pat1", ToVersion: toVersion, ArtifactSHA256: strings.Repeat("ab", 32)})

			if !h.env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			if err := h.env.GetWorkflowError(); err != nil {
				t.Fatalf("workflow failed: %v", err)
			}
			var res AssetDeploymentResult
			if err := h.env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if res.AssetID != "plc1" || res.State != tt.state || res.Succeeded() != (tt.state == domain.AssetDone) {
				t.Errorf("result %+v, want state %s", res, tt.state)
			}
			if !strings.Contains(res.Error, tt.errHas) || (tt.errHas == "") != (res.Error == "") {
				t.Errorf("result error %q, want it to contain %q", res.Error, tt.errHas)
			}

			var states []domain.AssetState
			for _, s := range h.assetStates {
				states = append(states, s.In.State)
				if s.In.WorkflowID != wfID || s.In.CampaignID != testCampaign {
					t.Errorf("SetAssetState input %+v, want workflow %s of campaign %s", s.In, wfID, testCampaign)
				}
			}
			if !slices.Equal(states, tt.states) {
				t.Errorf("asset states %v, want %v", states, tt.states)
			}
			if last := h.assetStates[len(h.assetStates)-1].In; last.Version != tt.version {
				t.Errorf("final state reports version %q, want %q", last.Version, tt.version)
			}
			if len(h.backups) != tt.backups || len(h.deploys) != tt.deploys || len(h.restores) != tt.restores {
				t.Errorf("attempts: %d backups, %d deploys, %d restores; want %d, %d, %d",
					len(h.backups), len(h.deploys), len(h.restores), tt.backups, tt.deploys, tt.restores)
			}
			for i, d := range h.deploys {
				if d.Attempt != int32(i+1) {
					t.Errorf("deploy %d ran as attempt %d, want %d (one activity, retried)", i, d.Attempt, i+1)
				}
			}
			if tt.backups > 0 && tt.deploys > 0 && h.deploys[0].At.Before(h.backups[0].At) {
				t.Error("deployed before the backup")
			}
			var expects []string
			for _, v := range h.verifies {
				expects = append(expects, v.In.Expect)
			}
			if !slices.Equal(expects, tt.expects) {
				t.Errorf("verifications expected %v, want %v", expects, tt.expects)
			}
			for _, r := range h.restores {
				want := activities.RestoreInput{AssetInput: activities.AssetInput{CampaignID: testCampaign, AssetID: "plc1", WorkflowID: wfID},
					BackupKey: backupKey(testCampaign, "plc1"), BackupSHA256: backupSHA("plc1")}
				if r.In != want {
					t.Errorf("RestoreAsset input %+v, want the backup that was taken %+v", r.In, want)
				}
			}
			if tt.backups > 0 && tt.state != domain.AssetFailed && res.Backup != backupSHA("plc1") {
				t.Errorf("result backup %q, want %q", res.Backup, backupSHA("plc1"))
			}
		})
	}
}
