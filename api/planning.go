package api

import (
	"context"
	"sort"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// candidates reads the assets of a patch's product as they are now — zone, SL-T, installed
// version, and for test-bench assets the verified baselines they can be restored to — so a
// plan is computed from the plant as it is, not as it was at qualification. It also returns
// the assets by id, as read.
func (s *server) candidates(ctx context.Context, p store.Patch) ([]domain.Candidate, map[string]store.Asset, map[string]store.Zone, error) {
	assets, err := s.Store.Assets(ctx, store.AssetFilter{ProductID: p.ProductID})
	if err != nil {
		return nil, nil, nil, err
	}
	zones, err := s.Store.Zones(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	zoneByID := map[string]store.Zone{}
	for _, z := range zones {
		zoneByID[z.ID] = z
	}
	var benchIDs []string
	for _, as := range assets {
		if zoneByID[as.ZoneID].TestBench {
			benchIDs = append(benchIDs, as.ID)
		}
	}
	baselines, err := s.Store.Baselines(ctx, benchIDs)
	if err != nil {
		return nil, nil, nil, err
	}
	out := make([]domain.Candidate, 0, len(assets))
	byID := make(map[string]store.Asset, len(assets))
	for _, as := range assets {
		byID[as.ID] = as
		z := zoneByID[as.ZoneID]
		c := domain.Candidate{AssetID: as.ID, Name: as.Name, ZoneID: z.ID, ZoneName: z.Name, SLT: z.SLT, TestBench: z.TestBench,
			SafetyCritical: as.SafetyCritical, Criticality: as.Criticality, RedundancyGroup: as.RedundancyGroup,
			InstalledVersion: as.InstalledVersion, Window: z.Window}
		for _, b := range baselines[as.ID] {
			c.Baselines = append(c.Baselines, domain.Baseline{Version: b.Version, ObjectKey: b.ObjectKey, SHA256: b.SHA256, Size: b.Size})
		}
		out = append(out, c)
	}
	return out, byID, zoneByID, nil
}

// liveAsset is one asset of a patch's product with the patch's applicability to the version it
// runs now.
type liveAsset struct {
	AssetID          string `json:"asset_id"`
	Name             string `json:"name"`
	ZoneID           string `json:"zone_id"`
	ZoneName         string `json:"zone_name"`
	SLT              int    `json:"sl_t"`
	SafetyCritical   bool   `json:"safety_critical"`
	TestBench        bool   `json:"test_bench"`
	InstalledVersion string `json:"installed_version"`
	domain.Applicability
	// Campaign is the open campaign that already targets the asset, if any.
	Campaign string `json:"open_campaign,omitempty"`
}

// liveApplicability evaluates the patch against every asset of its product as it runs now.
func (s *server) liveApplicability(ctx context.Context, p store.Patch, m *domain.Manifest) ([]liveAsset, error) {
	cands, _, _, err := s.candidates(ctx, p)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(cands))
	for i, c := range cands {
		ids[i] = c.AssetID
	}
	claims, err := s.Store.Claims(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]liveAsset, 0, len(cands))
	for _, c := range cands {
		out = append(out, liveAsset{AssetID: c.AssetID, Name: c.Name, ZoneID: c.ZoneID, ZoneName: c.ZoneName, SLT: c.SLT,
			SafetyCritical: c.SafetyCritical, TestBench: c.TestBench, InstalledVersion: c.InstalledVersion,
			Applicability: m.ApplicabilityOf(c.InstalledVersion), Campaign: claims[c.AssetID]})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
