package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"go.temporal.io/sdk/temporal"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/domain"
)

// Device does the device work of one site: it reaches the site's devices through its adapters
// and keeps backups in the object store. It holds no database: what it needs of an asset comes
// in its input (DeviceRef), read by the central worker, and what it saw (the device's output,
// the backup's hashes) goes back in its result, which the central worker records. A site worker
// (`otpatch worker --site S`) registers only these activities, on the site's task queue.
type Device struct {
	Objects  ObjectStore
	Adapters map[string]adapters.Target
	Log      *slog.Logger
	// Worker names this worker in every result, for the audit trail (its Temporal identity).
	Worker string
	// NeighborsFile is the neighbour table SiteNeighbors reads (empty: the kernel's).
	NeighborsFile string
}

// DeviceRef is what device work needs to know of one asset of one campaign: how to reach it and
// the patch's steps. The central worker reads it from the inventory and the approved patch.
type DeviceRef struct {
	AssetInput
	Name             string             `json:"name"`
	Adapter          string             `json:"adapter"`
	Endpoint         *adapters.Endpoint `json:"endpoint,omitempty"`
	InstalledVersion string             `json:"installed_version"`
	Steps            DeviceSteps        `json:"steps"`
}

// DeviceSteps is what an adapter needs of a campaign's patch: the manifest's install, verify and
// rollback steps and the artifact's name, size and object key.
type DeviceSteps struct {
	Install      string `json:"install,omitempty"`
	Verify       string `json:"verify,omitempty"`
	Rollback     string `json:"rollback,omitempty"`
	ArtifactName string `json:"artifact_name"`
	ArtifactSize int64  `json:"artifact_size"`
	ArtifactKey  string `json:"artifact_key"`
}

// DeviceLine is text a device printed during an operation, for the deployment log.
type DeviceLine struct {
	Stream string `json:"stream"`
	Text   string `json:"text"`
}

// MaxDeviceOutput bounds the device output one operation carries back from a site worker; more
// is cut, and the cut is said in the log.
const MaxDeviceOutput = 256 << 10

// DeviceReport is what every device operation of a site worker returns beside its result.
type DeviceReport struct {
	Output []DeviceLine `json:"output,omitempty"`
	Worker string       `json:"worker"`
}

// Reported is the report itself; every result of a site worker's step embeds one.
func (r DeviceReport) Reported() DeviceReport { return r }

// ErrTypeDevice is the type of a retryable device failure reported by a site worker; its
// details carry the device's output.
const ErrTypeDevice = "DeviceFailed"

// endpointKey carries an asset's endpoint to a site worker's adapters.
type endpointKey struct{}

// EndpointFromInput is the endpoint lookup of a site worker's adapters: the endpoint comes with
// the device work, read centrally from the inventory.
func EndpointFromInput(ctx context.Context, assetID string) (adapters.Endpoint, error) {
	if e, ok := ctx.Value(endpointKey{}).(*adapters.Endpoint); ok && e != nil {
		return *e, nil
	}
	return adapters.Endpoint{}, fmt.Errorf("asset %s has no endpoint in its device work", assetID)
}

// output collects a device's output up to MaxDeviceOutput.
type output struct {
	mu    sync.Mutex
	lines []DeviceLine
	size  int
	cut   bool
}

func (o *output) record(stream, text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cut {
		return
	}
	if o.size+len(text) > MaxDeviceOutput {
		text = text[:MaxDeviceOutput-o.size]
		o.cut = true
		text += fmt.Sprintf("\n[otpatch: output cut at %d bytes]\n", MaxDeviceOutput)
	}
	o.size += len(text)
	if n := len(o.lines); n > 0 && o.lines[n-1].Stream == stream {
		o.lines[n-1].Text += text
		return
	}
	o.lines = append(o.lines, DeviceLine{Stream: stream, Text: text})
}

func (o *output) report(worker string) DeviceReport {
	o.mu.Lock()
	defer o.mu.Unlock()
	return DeviceReport{Output: o.lines, Worker: worker}
}

// run does one device operation of a site worker on ref: through the asset's adapter, with the
// endpoint from the input and the device's output collected into the report. A failure carries
// the report in its details (failed).
func run[R any](ctx context.Context, d *Device, ref DeviceRef, op func(context.Context, adapters.Target) (R, error)) (R, DeviceReport, error) {
	var zero R
	o := &output{}
	t, ok := d.Adapters[ref.Adapter]
	if !ok {
		err := fmt.Errorf("this site worker has no %s adapter configured, so it cannot reach %s", ref.Adapter, ref.Name)
		return zero, DeviceReport{}, d.failed(temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeUnknownAdapter, err), o)
	}
	ctx = adapters.WithOutput(context.WithValue(ctx, endpointKey{}, ref.Endpoint), o.record)
	res, err := op(ctx, t)
	if err != nil {
		return zero, DeviceReport{}, d.failed(err, o)
	}
	return res, o.report(d.Worker), nil
}

// failed is err as a site worker reports it: the device's output rides in its details, and an
// error no retry can fix stays non-retryable with its type.
func (d *Device) failed(err error, o *output) error {
	rep := o.report(d.Worker)
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return temporal.NewApplicationErrorWithOptions(app.Message(), app.Type(), temporal.ApplicationErrorOptions{NonRetryable: app.NonRetryable(), Cause: err, Details: []any{rep}})
	}
	return temporal.NewApplicationErrorWithOptions(err.Error(), ErrTypeDevice, temporal.ApplicationErrorOptions{Cause: err, Details: []any{rep}})
}

// ReportOf reads the device report a site worker's failure carries (empty when none).
func ReportOf(err error) DeviceReport {
	var app *temporal.ApplicationError
	var rep DeviceReport
	if errors.As(err, &app) && app.HasDetails() {
		_ = app.Details(&rep)
	}
	return rep
}

// DeviceCheckInput asks a site's device which version it runs.
type DeviceCheckInput struct {
	Ref         DeviceRef `json:"ref"`
	FromVersion string    `json:"from_version"`
}

// DeviceCheckResult is the version the device reported.
type DeviceCheckResult struct {
	CheckResult
	DeviceReport
}

// DeviceCheck reads the installed version from a site's device (the patch's verify step).
func (d *Device) DeviceCheck(ctx context.Context, in DeviceCheckInput) (DeviceCheckResult, error) {
	res, rep, err := run(ctx, d, in.Ref, func(ctx context.Context, t adapters.Target) (CheckResult, error) {
		return checkVersion(ctx, t, in.Ref, in.FromVersion)
	})
	return DeviceCheckResult{CheckResult: res, DeviceReport: rep}, err
}

// DevicePrepareInput brings a site's test-bench device to a baseline.
type DevicePrepareInput struct {
	Ref      DeviceRef       `json:"ref"`
	Baseline domain.Baseline `json:"baseline"`
}

// DevicePrepare restores a verified baseline onto a site's test-bench device, at most once per
// campaign.
func (d *Device) DevicePrepare(ctx context.Context, in DevicePrepareInput) (DeviceReport, error) {
	_, rep, err := run(ctx, d, in.Ref, func(ctx context.Context, t adapters.Target) (struct{}, error) {
		rin := RestoreInput{AssetInput: in.Ref.AssetInput, BackupKey: in.Baseline.ObjectKey, BackupSHA256: in.Baseline.SHA256}
		if err := restoreOnto(ctx, d.Objects, t, rin, in.Ref.Steps, "prepare"); err != nil {
			return struct{}{}, deviceError(fmt.Errorf("restore the %s baseline onto %s: %w", in.Baseline.Version, in.Ref.Name, err))
		}
		return struct{}{}, nil
	})
	return rep, err
}

// DeviceBackupResult is a verified backup of a site's device.
type DeviceBackupResult struct {
	BackupResult
	DeviceReport
}

// DeviceBackup streams a site's device's backup to the object store and verifies it, like
// BackupAsset; the central worker records it.
func (d *Device) DeviceBackup(ctx context.Context, ref DeviceRef) (DeviceBackupResult, error) {
	res, rep, err := run(ctx, d, ref, func(ctx context.Context, t adapters.Target) (BackupResult, error) {
		return backupTo(ctx, d.Objects, t, ref)
	})
	return DeviceBackupResult{BackupResult: res, DeviceReport: rep}, err
}

// DeviceDeployInput is one installation on a site's device.
type DeviceDeployInput struct {
	Ref            DeviceRef `json:"ref"`
	PatchID        string    `json:"patch_id"`
	ToVersion      string    `json:"to_version"`
	ArtifactSHA256 string    `json:"artifact_sha256"`
}

// DeviceDeploy installs the patch on a site's device, at most once per campaign.
func (d *Device) DeviceDeploy(ctx context.Context, in DeviceDeployInput) (DeviceReport, error) {
	_, rep, err := run(ctx, d, in.Ref, func(ctx context.Context, t adapters.Target) (struct{}, error) {
		return struct{}{}, deployTo(ctx, d.Objects, t, in.Ref, in.PatchID, in.ToVersion, in.ArtifactSHA256)
	})
	return rep, err
}

// DeviceVerifyInput checks a site's device reports the expected version and is healthy.
type DeviceVerifyInput struct {
	Ref    DeviceRef `json:"ref"`
	Expect string    `json:"expect"`
}

// DeviceVerifyResult is what the device reported.
type DeviceVerifyResult struct {
	adapters.VerifyResult
	DeviceReport
}

// DeviceVerify reads back a site's device's version and health.
func (d *Device) DeviceVerify(ctx context.Context, in DeviceVerifyInput) (DeviceVerifyResult, error) {
	res, rep, err := run(ctx, d, in.Ref, func(ctx context.Context, t adapters.Target) (adapters.VerifyResult, error) {
		return verifyOn(ctx, t, in.Ref, in.Expect)
	})
	return DeviceVerifyResult{VerifyResult: res, DeviceReport: rep}, err
}

// DeviceRestoreInput puts a verified backup back onto a site's device.
type DeviceRestoreInput struct {
	Ref          DeviceRef `json:"ref"`
	BackupKey    string    `json:"backup_key"`
	BackupSHA256 string    `json:"backup_sha256"`
}

// DeviceRestore restores a verified backup onto a site's device, at most once per campaign.
func (d *Device) DeviceRestore(ctx context.Context, in DeviceRestoreInput) (DeviceReport, error) {
	_, rep, err := run(ctx, d, in.Ref, func(ctx context.Context, t adapters.Target) (struct{}, error) {
		rin := RestoreInput{AssetInput: in.Ref.AssetInput, BackupKey: in.BackupKey, BackupSHA256: in.BackupSHA256}
		if err := restoreOnto(ctx, d.Objects, t, rin, in.Ref.Steps, "restore"); err != nil {
			return struct{}{}, deviceError(fmt.Errorf("restore %s: %w", in.Ref.Name, err))
		}
		return struct{}{}, nil
	})
	return rep, err
}

// The device side of each step, shared by the central activities and a site worker's.

// checkVersion reads the installed version through the patch's verify step and compares it
// with the plan's from-version.
func checkVersion(ctx context.Context, t adapters.Target, ref DeviceRef, from string) (CheckResult, error) {
	opCtx, stop := heartbeat(ctx)
	defer stop()
	res, err := t.Verify(opCtx, ref.AssetID, adapters.VerifyRequest{Expect: from, Step: ref.Steps.Verify})
	if err != nil {
		return CheckResult{}, deviceError(fmt.Errorf("read the installed version of %s: %w", ref.Name, err))
	}
	return CheckResult{Version: res.Version, Drifted: domain.CompareVersions(res.Version, from) != 0}, nil
}

// backupTo streams the device's backup to the object store, hashing it on the way, then reads
// it back and checks the hash against both the stream and the device's own checksum. Without
// a verified backup it fails with a non-retryable NoVerifiedBackup error.
func backupTo(ctx context.Context, objects ObjectStore, t adapters.Target, ref DeviceRef) (BackupResult, error) {
	// Heartbeats let Temporal retry soon on another worker when this one dies mid-backup.
	ctx, stop := heartbeat(ctx)
	defer stop()
	rc, deviceSum, err := t.Backup(ctx, ref.AssetID)
	if err != nil {
		return BackupResult{}, deviceError(fmt.Errorf("backup of %s: %w", ref.Name, err))
	}
	defer rc.Close()
	key := fmt.Sprintf("backups/%s/%s.bin", ref.CampaignID, ref.AssetID)
	info, err := objects.Put(ctx, key, rc, artifacts.Expect{}, "application/octet-stream")
	if err != nil {
		return BackupResult{}, fmt.Errorf("store backup of %s: %w", ref.Name, err)
	}
	back, err := objects.Hash(ctx, key)
	if err != nil {
		return BackupResult{}, fmt.Errorf("read back backup of %s: %w", ref.Name, err)
	}
	if back.SHA256 != info.SHA256 || back.Size != info.Size || (deviceSum != "" && deviceSum != info.SHA256) {
		msg := fmt.Sprintf("backup of %s does not verify: the device reports SHA-256 %s, %d bytes streamed with %s, read back %s; no deploy without a verified backup",
			ref.Name, deviceSum, info.Size, info.SHA256, back.SHA256)
		return BackupResult{}, temporal.NewNonRetryableApplicationError(msg, ErrTypeNoBackup, nil)
	}
	return BackupResult{Key: key, SHA256: info.SHA256, Size: info.Size, Version: ref.InstalledVersion}, nil
}

// deployTo installs the patch through the adapter; the idempotency key makes a repeat do nothing.
func deployTo(ctx context.Context, objects ObjectStore, t adapters.Target, ref DeviceRef, patchID, toVersion, artifactSHA256 string) error {
	_, err := deployOnce(ctx, objects, t, ref, patchID, toVersion, artifactSHA256)
	return err
}

// deployOnce reads the device's version first and deploys only when it is not toVersion
// already: a deploy done after a backup's point, which a restored otpatch no longer remembers,
// or whose completion was lost, is found on the device and recorded, not done again. It
// reports whether the device was found at toVersion.
func deployOnce(ctx context.Context, objects ObjectStore, t adapters.Target, ref DeviceRef, patchID, toVersion, artifactSHA256 string) (bool, error) {
	opCtx, stop := heartbeat(ctx)
	defer stop()
	st := ref.Steps
	if cur, err := t.Verify(opCtx, ref.AssetID, adapters.VerifyRequest{Expect: toVersion, Step: st.Verify}); err == nil && cur.Version == toVersion {
		adapters.Output(ctx, "otpatch", fmt.Sprintf("%s already runs %s: recorded as deployed, not deployed again\n", ref.Name, toVersion))
		return true, nil
	}
	err := t.Deploy(opCtx, ref.AssetID, adapters.DeployRequest{IdempotencyKey: IdempotencyKey(ref.CampaignID, ref.AssetID, "deploy"), PatchID: patchID,
		ToVersion: toVersion, ArtifactName: st.ArtifactName, ArtifactSize: st.ArtifactSize, ArtifactSHA256: artifactSHA256, Install: st.Install,
		Artifact: openArtifact(objects, st.ArtifactKey)})
	if err != nil {
		return false, deviceError(fmt.Errorf("deploy to %s: %w", ref.Name, err))
	}
	return false, nil
}

// verifyOn reads back the device's version and health. A device that answers but is wrong is a
// result, not an error: the workflow decides to roll back.
func verifyOn(ctx context.Context, t adapters.Target, ref DeviceRef, expect string) (adapters.VerifyResult, error) {
	opCtx, stop := heartbeat(ctx)
	defer stop()
	res, err := t.Verify(opCtx, ref.AssetID, adapters.VerifyRequest{Expect: expect, Step: ref.Steps.Verify})
	if err != nil {
		return res, deviceError(fmt.Errorf("verify %s: %w", ref.Name, err))
	}
	if res.Healthy && res.Version != expect {
		res.Healthy = false
		res.Detail = fmt.Sprintf("reports version %s, expected %s", res.Version, expect)
	}
	return res, nil
}
