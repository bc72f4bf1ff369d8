package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/otpatch/otpatch/internal/domain"
)

// TestCampaignOfManyTargets stores a campaign of 12,000 targets, more than one INSERT or IN list
// can carry on PostgreSQL (65,535 parameters): every target and claim is stored, and a second
// campaign over the same assets is refused naming the first.
func TestCampaignOfManyTargets(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		st := newStore(t, dsn)
		f := seed(t, st)
		const n = 12000
		as := make([]Asset, n)
		targets := make([]CampaignAsset, n)
		for i := range as {
			as[i] = Asset{ID: fmt.Sprintf("ast_fleet-%05d", i), ZoneID: f.cell.ID, ProductID: f.product.ID, Name: fmt.Sprintf("fleet-plc-%05d", i),
				InstalledVersion: "V3.0 Update 2", Criticality: 1, Adapter: "simulator"}
			targets[i] = CampaignAsset{AssetID: as[i].ID, Wave: 1, State: string(domain.AssetPending)}
		}
		check(t, "CreateAssets", st.CreateAssets(ctx, as, Event{Actor: "ed.eng", Role: "engineer", Action: "asset.imported"}))
		c := Campaign{ID: NewID("cmp"), Name: "plant-wide", PatchID: f.patch.ID, Status: string(domain.CampaignDraft), CreatedBy: "ed.eng",
			Plan: `{"targets":[]}`, PlanDigest: strings.Repeat("d2", 32), WorkflowID: "campaign-plant-wide"}
		check(t, "CreateCampaign", st.CreateCampaign(ctx, &c, targets, Event{Actor: "ed.eng", Role: "engineer"}))
		got, err := st.CampaignAssets(ctx, c.ID)
		check(t, "CampaignAssets", err)
		if len(got) != n {
			t.Fatalf("%d targets stored, want %d", len(got), n)
		}
		ids := make([]string, n)
		for i := range as {
			ids[i] = as[i].ID
		}
		held, err := st.Claims(ctx, ids)
		check(t, "Claims", err)
		if len(held) != n || held[ids[n-1]] != c.ID {
			t.Fatalf("%d of %d assets claimed; the last by %q, want %s", len(held), n, held[ids[n-1]], c.ID)
		}
		again := Campaign{ID: NewID("cmp"), Name: "again", PatchID: f.patch.ID, Status: string(domain.CampaignDraft), CreatedBy: "ed.eng",
			Plan: `{"targets":[]}`, PlanDigest: strings.Repeat("d3", 32), WorkflowID: "campaign-again"}
		err = st.CreateCampaign(ctx, &again, []CampaignAsset{{AssetID: ids[n-1], Wave: 1, State: string(domain.AssetPending)}}, Event{Actor: "ed.eng", Role: "engineer"})
		var conflict *ClaimConflict
		if !errors.As(err, &conflict) || conflict.Holders[ids[n-1]] != c.ID {
			t.Fatalf("a second campaign over a claimed asset: %v, want a claim conflict naming %s", err, c.ID)
		}
	})
}
