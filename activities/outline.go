package activities

import (
	"context"
	"fmt"
	"sync"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// A campaign of tens of thousands of assets cannot travel as one activity result (Temporal
// refuses payloads over 2 MB) nor sit in one workflow history. Executions that keep their
// history bounded load the plan's outline once — its header, the test-bench targets, each
// zone's window and the production waves with their sizes — and then each wave's targets a
// page at a time, in the plan's order.

// CampaignOutline is a campaign's plan without its production targets.
type CampaignOutline struct {
	// CampaignPlan holds the header; its Targets are the test-bench targets only.
	CampaignPlan
	// Complete is false for plans made before plans carried their waves: those run the
	// earlier way, with every target loaded at once (they are small).
	Complete bool `json:"complete"`
	// Windows is the window of every target zone, by zone id.
	Windows map[string]domain.Window `json:"windows"`
	// Production is how many production targets the plan has.
	Production int `json:"production"`
	// OutlineWaves are the production waves in order: zone, threshold and size.
	OutlineWaves []OutlineWave `json:"outline_waves"`
}

// OutlineWave is one production wave of the plan.
type OutlineWave struct {
	ZoneID         string `json:"zone_id"`
	ZoneName       string `json:"zone_name,omitempty"`
	ErrorThreshold int    `json:"error_threshold"`
	Size           int    `json:"size"`
}

// WaveTargetsInput asks for Limit targets of wave Wave (0-based) from Offset on.
type WaveTargetsInput struct {
	CampaignID string `json:"campaign_id"`
	Wave       int    `json:"wave"`
	Offset     int    `json:"offset"`
	Limit      int    `json:"limit"`
}

// MaxWavePage bounds one page of wave targets (about 200 bytes each in the history).
const MaxWavePage = 1000

// OutlineOf is the outline of a plan whose Targets are all its targets, in plan order.
func OutlineOf(p CampaignPlan, complete bool) CampaignOutline {
	o := CampaignOutline{CampaignPlan: p, Complete: complete, Windows: map[string]domain.Window{}}
	o.Targets = nil
	for _, t := range p.Targets {
		o.Windows[t.ZoneID] = t.Window
		if t.TestBench {
			o.Targets = append(o.Targets, t)
		} else {
			o.Production++
		}
	}
	for _, w := range productionWaves(p) {
		o.OutlineWaves = append(o.OutlineWaves, OutlineWave{ZoneID: w.ZoneID, ZoneName: w.ZoneName, ErrorThreshold: w.ErrorThreshold, Size: len(w.AssetIDs)})
	}
	o.Waves = nil // the outline's waves say their size; their members come a page at a time
	return o
}

// WavePage is targets [offset, offset+limit) of production wave n of a plan whose Targets are
// all its targets.
func WavePage(p CampaignPlan, n, offset, limit int) ([]Target, error) {
	return pageOf(p.CampaignID, productionWaves(p), targetsByID(p), n, offset, limit)
}

// targetsByID indexes a plan's targets by asset id.
func targetsByID(p CampaignPlan) map[string]Target {
	byID := make(map[string]Target, len(p.Targets))
	for _, t := range p.Targets {
		byID[t.AssetID] = t
	}
	return byID
}

// pageOf is targets [offset, offset+limit) of production wave n of a plan's waves.
func pageOf(campaignID string, waves []domain.PlanWave, byID map[string]Target, n, offset, limit int) ([]Target, error) {
	if n < 0 || n >= len(waves) {
		return nil, fmt.Errorf("campaign %s has %d production waves; wave %d does not exist", campaignID, len(waves), n+1)
	}
	ids := waves[n].AssetIDs
	if offset < 0 || limit < 1 || limit > MaxWavePage {
		return nil, fmt.Errorf("a page of wave targets starts at 0 or later and holds 1 to %d targets", MaxWavePage)
	}
	if offset >= len(ids) {
		return nil, nil
	}
	ids = ids[offset:min(offset+limit, len(ids))]
	out := make([]Target, 0, len(ids))
	for _, id := range ids {
		t := byID[id]
		t.Window = domain.Window{} // the workflow holds each zone's window once
		out = append(out, t)
	}
	return out, nil
}

// productionWaves are the plan's production waves with their production members, in order:
// the plan's own waves, or — for plans made before plans carried them — the targets grouped
// by zone, lowest SL-T and criticality first, with no failure tolerated in a safety zone.
func productionWaves(p CampaignPlan) []domain.PlanWave {
	prod := map[string]Target{}
	var ts []Target
	for _, t := range p.Targets {
		if !t.TestBench {
			prod[t.AssetID] = t
			ts = append(ts, t)
		}
	}
	if len(p.Waves) > 0 {
		out := make([]domain.PlanWave, 0, len(p.Waves))
		for _, w := range p.Waves {
			pw := domain.PlanWave{ZoneID: w.ZoneID, ZoneName: w.ZoneName, ErrorThreshold: w.ErrorThreshold}
			for _, id := range w.AssetIDs {
				if _, ok := prod[id]; ok {
					pw.AssetIDs = append(pw.AssetIDs, id)
				}
			}
			out = append(out, pw)
		}
		return out
	}
	groups := domain.GroupWaves(ts, func(t Target) string { return t.ZoneID }, func(t Target) int { return t.SLT }, func(t Target) int { return t.Criticality })
	out := make([]domain.PlanWave, 0, len(groups))
	for _, g := range groups {
		pw := domain.PlanWave{ZoneID: g[0].ZoneID, ErrorThreshold: max(p.ErrorThreshold, 0)}
		for _, t := range g {
			pw.AssetIDs = append(pw.AssetIDs, t.AssetID)
			if t.SafetyCritical || t.SLT >= 3 {
				pw.ErrorThreshold = 0
			}
		}
		out = append(out, pw)
	}
	return out
}

// LoadCampaignOutline reads a campaign's plan outline: what a campaign that keeps its history
// bounded holds for its whole run.
func (a *Activities) LoadCampaignOutline(ctx context.Context, campaignID string) (CampaignOutline, error) {
	lp, err := a.loadPlan(ctx, campaignID)
	if err != nil {
		return CampaignOutline{}, err
	}
	o := OutlineOf(lp.plan, lp.complete)
	if !o.Complete {
		return CampaignOutline{Complete: false, CampaignPlan: CampaignPlan{CampaignID: campaignID}}, nil
	}
	if err := a.fillTargets(ctx, o.Targets); err != nil {
		return CampaignOutline{}, err
	}
	return o, nil
}

// LoadWaveTargets reads one page of a production wave's targets, in plan order.
func (a *Activities) LoadWaveTargets(ctx context.Context, in WaveTargetsInput) ([]Target, error) {
	lp, err := a.loadPlan(ctx, in.CampaignID)
	if err != nil {
		return nil, err
	}
	page, err := pageOf(in.CampaignID, lp.waves, lp.byID, in.Wave, in.Offset, in.Limit)
	if err != nil {
		return nil, err
	}
	return page, a.fillTargets(ctx, page)
}

// fillTargets sets what the inventory says of each target that the plan does not: how long its
// device work takes (by its adapter). One query for the page.
func (a *Activities) fillTargets(ctx context.Context, ts []Target) error {
	if len(ts) == 0 {
		return nil
	}
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.AssetID
	}
	as, err := a.Store.Assets(ctx, store.AssetFilter{IDs: ids})
	if err != nil {
		return err
	}
	byID := make(map[string]store.Asset, len(as))
	for _, x := range as {
		byID[x.ID] = x
	}
	for i := range ts {
		x, ok := byID[ts[i].AssetID]
		if !ok {
			return fmt.Errorf("asset %s of the plan is no longer in the inventory", ts[i].AssetID)
		}
		if ts[i].Expected, err = a.expected(x); err != nil {
			return err
		}
		if ts[i].Name == "" {
			ts[i].Name = x.Name
		}
	}
	return nil
}

// loadedPlan is a campaign's stored plan as the workflow reads it, every target in plan order
// with the ordering inputs the plan fixed (device durations are read per page), its production
// waves and its targets by id, computed once for every page.
type loadedPlan struct {
	digest   string
	complete bool
	plan     CampaignPlan
	waves    []domain.PlanWave
	byID     map[string]Target
}

// planCache keeps the plans this worker read last, by campaign, so that paging through a
// campaign of 50,000 targets parses and hashes its plan once per change, not once per page.
type planCache struct {
	mu      sync.Mutex
	entries map[string]*loadedPlan
	order   []string
}

const planCacheSize = 8

func (pc *planCache) get(id, digest string) *loadedPlan {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if lp, ok := pc.entries[id]; ok && lp.digest == digest {
		return lp
	}
	return nil
}

func (pc *planCache) put(id string, lp *loadedPlan) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.entries == nil {
		pc.entries = map[string]*loadedPlan{}
	}
	if _, ok := pc.entries[id]; !ok {
		pc.order = append(pc.order, id)
		if len(pc.order) > planCacheSize {
			delete(pc.entries, pc.order[0])
			pc.order = pc.order[1:]
		}
	}
	pc.entries[id] = lp
}

// loadPlan reads campaign id's stored plan, checked against its digest.
func (a *Activities) loadPlan(ctx context.Context, id string) (*loadedPlan, error) {
	c, err := a.Store.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	if lp := a.plans.get(id, c.PlanDigest); lp != nil {
		return lp, nil
	}
	plan, err := storedPlan(c)
	if err != nil {
		return nil, err
	}
	hdr, err := a.planHeader(ctx, c, plan)
	if err != nil {
		return nil, err
	}
	hdr.Targets = make([]Target, 0, len(plan.Targets))
	for _, t := range plan.Targets {
		tg := Target{AssetID: t.AssetID, Name: t.Name, ZoneID: t.ZoneID, SLT: t.SLT, Criticality: t.Criticality, SafetyCritical: t.SafetyCritical,
			TestBench: t.TestBench, RedundancyGroup: t.RedundancyGroup, Window: t.Window, FromVersion: t.FromVersion}
		if r, ok := plan.BenchRunFor(t.AssetID); ok && t.TestBench {
			tg.Bench = &r
		}
		hdr.Targets = append(hdr.Targets, tg)
	}
	lp := &loadedPlan{digest: c.PlanDigest, complete: plan.Complete(), plan: hdr, waves: productionWaves(hdr), byID: targetsByID(hdr)}
	a.plans.put(id, lp)
	return lp, nil
}
