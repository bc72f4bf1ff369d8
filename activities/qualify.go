package activities

import (
	"context"
	"encoding/json"
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
		report, err := a.assess(ctx, p, m)
		if err != nil {
			return QualifyResult{}, err
		}
		for _, as := range report.Applicable {
			res.Applicable = append(res.Applicable, as.AssetID)
		}
		var superseded []string
		for _, s := range report.Supersedes {
			superseded = append(superseded, s.PatchIDs...)
		}
		b, _ := json.Marshal(report)
		if err := a.Store.SetPatchReport(ctx, p.ID, string(b), superseded); err != nil {
			return QualifyResult{}, err
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

// Report is the qualification report of a patch: which assets it applies to and what the
// vendor says about their versions, what it supersedes, and a risk summary.
type Report struct {
	Applicable   []ApplicableAsset `json:"applicable"`
	NotQualified []ApplicableAsset `json:"excluded_not_qualified,omitempty"`
	Supersedes   []Superseded      `json:"supersedes,omitempty"`
	Risk         Risk              `json:"risk"`
}

// ApplicableAsset is an asset running an affected version, with the vendor's compatibility
// statement for that version.
type ApplicableAsset struct {
	AssetID       string `json:"asset_id"`
	Name          string `json:"name"`
	ZoneID        string `json:"zone_id"`
	Version       string `json:"installed_version"`
	Compatibility string `json:"compatibility"` // qualified | not_qualified | not_tested | not_stated
	Notes         string `json:"notes,omitempty"`
}

// Superseded is one entry of the manifest's supersedes list and the stored patches it names.
type Superseded struct {
	PatchRef string   `json:"patch_ref"`
	PatchIDs []string `json:"patch_ids"`
}

// Risk summarises what the patch fixes and where it lands.
type Risk struct {
	MaxCVSS         float64  `json:"max_cvss"`
	CVEs            []string `json:"cves"`
	MaxSLT          int      `json:"max_sl_t"`
	MaxCriticality  int      `json:"max_criticality"`
	SafetyCritical  int      `json:"safety_critical_assets"`
	Zones           []string `json:"zones"`
	RestartRequired string   `json:"restart_required,omitempty"`
}

// assess matches the patch against the inventory and the vendor's compatibility statement.
// Assets whose version the vendor states as not_qualified are not applicable.
func (a *Activities) assess(ctx context.Context, p store.Patch, m *domain.Manifest) (Report, error) {
	rep := Report{Applicable: []ApplicableAsset{}, Risk: Risk{MaxCVSS: m.MaxCVSS(), CVEs: []string{}, Zones: []string{}, RestartRequired: m.RestartRequired}}
	for _, c := range m.CVEs {
		rep.Risk.CVEs = append(rep.Risk.CVEs, c.ID)
	}
	assets, err := a.Store.Assets(ctx, store.AssetFilter{ProductID: p.ProductID})
	if err != nil {
		return rep, err
	}
	zones, err := a.Store.Zones(ctx)
	if err != nil {
		return rep, err
	}
	slt := map[string]int{}
	for _, z := range zones {
		slt[z.ID] = z.SLT
	}
	seenZone := map[string]bool{}
	for _, as := range assets {
		if !m.Affects(as.InstalledVersion) {
			continue
		}
		entry := ApplicableAsset{AssetID: as.ID, Name: as.Name, ZoneID: as.ZoneID, Version: as.InstalledVersion, Compatibility: "not_stated"}
		for _, c := range m.Compatibility {
			if domain.CompareVersions(c.ProductVersion, as.InstalledVersion) == 0 {
				entry.Compatibility, entry.Notes = c.Status, c.Notes
			}
		}
		if entry.Compatibility == "not_qualified" {
			rep.NotQualified = append(rep.NotQualified, entry)
			continue
		}
		rep.Applicable = append(rep.Applicable, entry)
		rep.Risk.MaxSLT = max(rep.Risk.MaxSLT, slt[as.ZoneID])
		rep.Risk.MaxCriticality = max(rep.Risk.MaxCriticality, as.Criticality)
		if as.SafetyCritical {
			rep.Risk.SafetyCritical++
		}
		if !seenZone[as.ZoneID] {
			seenZone[as.ZoneID] = true
			rep.Risk.Zones = append(rep.Risk.Zones, as.ZoneID)
		}
	}
	for _, ref := range m.Supersedes {
		old, err := a.Store.PatchByRef(ctx, p.VendorID, ref)
		if err != nil {
			return rep, err
		}
		s := Superseded{PatchRef: ref, PatchIDs: []string{}}
		for _, o := range old {
			if o.ID != p.ID {
				s.PatchIDs = append(s.PatchIDs, o.ID)
			}
		}
		rep.Supersedes = append(rep.Supersedes, s)
	}
	return rep, nil
}
