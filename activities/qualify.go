package activities

import (
	"context"
	"fmt"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
)

// QualifyInput names the patch to qualify.
type QualifyInput struct {
	PatchID    string `json:"patch_id"`
	WorkflowID string `json:"workflow_id"`
}

// QualifyResult is the qualification verdict.
type QualifyResult struct {
	Status     domain.PatchStatus `json:"status"`
	Reasons    []string           `json:"reasons"`
	Applicable []string           `json:"applicable"`
}

// QualifyPatch re-checks a submitted patch from what is stored — the vendor signature against
// the trusted keys, every artifact's size and SHA-256 read back from the object store, the
// product in the catalogue — and finds the assets it applies to. Every failed check is listed.
func (a *Activities) QualifyPatch(ctx context.Context, in QualifyInput) (QualifyResult, error) {
	ev := system("patch.qualifying")
	ev.WorkflowID = in.WorkflowID
	p, err := a.Store.Patch(ctx, in.PatchID)
	if err != nil {
		return QualifyResult{}, err
	}
	if p.Status == string(domain.PatchQualified) || p.Status == string(domain.PatchRejected) {
		return QualifyResult{Status: domain.PatchStatus(p.Status)}, nil
	}
	if err := a.Store.SetPatchStatus(ctx, p.ID, domain.PatchQualifying, nil, nil, ev); err != nil {
		return QualifyResult{}, err
	}
	var reasons []string
	m, err := store.ManifestOf(p)
	if err != nil {
		reasons = append(reasons, "manifest: "+err.Error())
	}
	keys, err := a.Store.TrustedKeys(ctx, p.VendorID)
	if err != nil {
		return QualifyResult{}, err
	}
	if fp, err := signing.VerifyTrusted(keys, []byte(p.Manifest), p.Signature, p.CreatedAt); err != nil {
		reasons = append(reasons, "signature: "+err.Error())
	} else if fp != p.KeyFingerprint {
		reasons = append(reasons, fmt.Sprintf("signature: verified with key %s but the submission recorded %s", fp, p.KeyFingerprint))
	}
	arts, err := a.Store.PatchArtifacts(ctx, p.ID)
	if err != nil {
		return QualifyResult{}, err
	}
	var res QualifyResult
	if m != nil {
		stored := map[string]store.PatchArtifact{}
		for _, s := range arts {
			stored[s.Name] = s
		}
		for _, want := range m.Artifacts {
			s, ok := stored[want.Name]
			if !ok {
				reasons = append(reasons, fmt.Sprintf("artifact %s: not stored", want.Name))
				continue
			}
			got, err := a.Objects.Hash(ctx, s.ObjectKey)
			if err != nil {
				reasons = append(reasons, fmt.Sprintf("artifact %s: %v", want.Name, err))
				continue
			}
			if got.Size != want.Size || got.SHA256 != want.SHA256 {
				reasons = append(reasons, fmt.Sprintf("artifact %s: stored object has %d bytes, SHA-256 %s; the manifest says %d bytes, %s", want.Name, got.Size, got.SHA256, want.Size, want.SHA256))
			}
		}
		assets, err := a.Store.Assets(ctx, store.AssetFilter{ProductID: p.ProductID})
		if err != nil {
			return QualifyResult{}, err
		}
		for _, as := range assets {
			if m.Affects(as.InstalledVersion) {
				res.Applicable = append(res.Applicable, as.ID)
			}
		}
	}
	res.Status, res.Reasons = domain.PatchQualified, reasons
	action := "patch.qualified"
	if len(reasons) > 0 {
		res.Status, action = domain.PatchRejected, "patch.rejected"
	}
	ev = system(action)
	ev.WorkflowID = in.WorkflowID
	ev.Details = map[string]any{"reasons": reasons, "applicable_assets": len(res.Applicable)}
	return res, a.Store.SetPatchStatus(ctx, p.ID, res.Status, reasons, res.Applicable, ev)
}
