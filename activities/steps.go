package activities

import (
	"context"
	"fmt"
	"io"

	"go.temporal.io/sdk/temporal"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/store"
)

// patchSteps is what a device adapter needs of a campaign's patch: the manifest's install,
// verify and rollback steps and the artifact's name, size and object key. A campaign's patch
// never changes, so it is read once per campaign and worker.
type patchSteps struct {
	Install, Verify, Rollback string
	Artifact                  store.PatchArtifact
}

func (a *Activities) steps(ctx context.Context, campaignID string) (patchSteps, error) {
	if v, ok := a.stepsCache.Load(campaignID); ok {
		return v.(patchSteps), nil
	}
	c, err := a.Store.Campaign(ctx, campaignID)
	if err != nil {
		return patchSteps{}, err
	}
	p, err := a.Store.Patch(ctx, c.PatchID)
	if err != nil {
		return patchSteps{}, err
	}
	m, err := store.ManifestOf(p)
	if err != nil {
		return patchSteps{}, err
	}
	arts, err := a.Store.PatchArtifacts(ctx, p.ID)
	if err != nil {
		return patchSteps{}, err
	}
	out := patchSteps{Install: m.Install, Verify: m.Verify, Rollback: m.Rollback}
	for _, art := range arts {
		if len(m.Artifacts) > 0 && art.Name == m.Artifacts[0].Name {
			out.Artifact = art
		}
	}
	if out.Artifact.ObjectKey == "" {
		return patchSteps{}, fmt.Errorf("patch %s has no stored artifact %q", p.ID, m.Artifacts[0].Name)
	}
	a.stepsCache.Store(campaignID, out)
	return out, nil
}

// openArtifact opens a patch artifact from the object store for an adapter.
func (a *Activities) openArtifact(key string) func(context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) { return a.Objects.Open(ctx, key) }
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
