package activities

import (
	"context"
	"fmt"
	"io"

	"go.temporal.io/sdk/temporal"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/store"
)

// steps is what a device adapter needs of a campaign's patch (DeviceSteps). A campaign's patch
// never changes, so it is read once per campaign and worker.
func (a *Activities) steps(ctx context.Context, campaignID string) (DeviceSteps, error) {
	if v, ok := a.stepsCache.Load(campaignID); ok {
		return v.(DeviceSteps), nil
	}
	c, err := a.Store.Campaign(ctx, campaignID)
	if err != nil {
		return DeviceSteps{}, err
	}
	p, err := a.Store.Patch(ctx, c.PatchID)
	if err != nil {
		return DeviceSteps{}, err
	}
	m, err := store.ManifestOf(p)
	if err != nil {
		return DeviceSteps{}, err
	}
	arts, err := a.Store.PatchArtifacts(ctx, p.ID)
	if err != nil {
		return DeviceSteps{}, err
	}
	out := DeviceSteps{Install: m.Install, Verify: m.Verify, Rollback: m.Rollback}
	for _, art := range arts {
		if len(m.Artifacts) > 0 && art.Name == m.Artifacts[0].Name {
			out.ArtifactName, out.ArtifactSize, out.ArtifactKey = art.Name, art.Size, art.ObjectKey
		}
	}
	if out.ArtifactKey == "" {
		return DeviceSteps{}, fmt.Errorf("patch %s has no stored artifact %q", p.ID, m.Artifacts[0].Name)
	}
	a.stepsCache.Store(campaignID, out)
	return out, nil
}

// openArtifact opens a patch artifact from the object store for an adapter.
func openArtifact(objects ObjectStore, key string) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) { return objects.Open(ctx, key) }
}

// withDeviceLog records what the device prints during an operation in the deployment log of
// the campaign's asset. A failure to record is logged, never fatal: the operation's outcome is
// in the audit trail either way.
func (a *Activities) withDeviceLog(ctx context.Context, in AssetInput) context.Context {
	return adapters.WithOutput(ctx, func(stream, text string) {
		if err := a.Store.AppendDeploymentLog(context.WithoutCancel(ctx), in.CampaignID, in.AssetID, stream, text); err != nil {
			a.logger().Warn("deployment log not recorded", "campaign_id", in.CampaignID, "asset_id", in.AssetID, "stream", stream, "error", err)
		}
	})
}

// ErrTypeDeviceRefused is a device error no retry can fix (adapters.PermanentError).
const ErrTypeDeviceRefused = "DeviceRefused"

// deviceError makes an adapter's permanent error non-retryable.
func deviceError(err error) error {
	if adapters.IsPermanent(err) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeDeviceRefused, err)
	}
	return err
}
