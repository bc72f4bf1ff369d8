package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/otpatch/otpatch/internal/csaf"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/notify"
	"github.com/otpatch/otpatch/internal/store"
)

// kevMatch remembers what the last KEV check matched against, so that the dispatcher's every
// run does not match every advisory again when nothing changed.
type kevMatch struct {
	mu    sync.Mutex
	state string
}

// KEVHit is a CVE of an ingested advisory that CISA lists as known exploited and that the
// advisory names for assets of the inventory.
type KEVHit struct {
	AdvisoryID string
	TrackingID string
	Title      string
	CVE        string
	Entry      store.KEVEntry
	// Assets are the ids of the assets it names, sorted; assets the plant states not affected
	// are left out. Names are their names, in the same order.
	Assets, Names []string
}

// maxNamedAssets bounds the assets a KEV notification names; the count says how many there are.
const maxNamedAssets = 20

// kevHits matches the ingested advisories against the inventory and the current KEV catalog.
func (a *Activities) kevHits(ctx context.Context) ([]KEVHit, error) {
	inv, err := a.Store.AdvisoryInventory(ctx)
	if err != nil {
		return nil, err
	}
	advs, err := a.Store.Advisories(ctx)
	if err != nil {
		return nil, err
	}
	type named struct {
		adv    store.Advisory
		cve    string
		assets map[string]bool
	}
	var found []named
	var cves []string
	for _, adv := range advs {
		var doc csaf.Advisory
		if err := json.Unmarshal([]byte(adv.Summary), &doc); err != nil {
			continue // an advisory without a readable summary names no known asset
		}
		byCVE := map[string]map[string]bool{}
		for _, h := range csaf.Match(&doc, inv.Products, inv.Assets) {
			for _, v := range doc.Vulnerabilities {
				if v.CVE == "" || !slices.ContainsFunc(v.Affected, func(id string) bool { return slices.Contains(h.CSAFProductIDs, id) }) {
					continue
				}
				if byCVE[v.CVE] == nil {
					byCVE[v.CVE] = map[string]bool{}
				}
				byCVE[v.CVE][h.AssetID] = true
			}
		}
		for cve, assets := range byCVE {
			found = append(found, named{adv: adv, cve: cve, assets: assets})
			cves = append(cves, cve)
		}
	}
	if len(found) == 0 {
		return nil, nil
	}
	kev, _, err := a.Store.Exploitation(ctx, cves)
	if err != nil {
		return nil, err
	}
	decided := map[string]map[string]store.Decision{}
	var out []KEVHit
	for _, f := range found {
		entry, listed := kev[f.cve]
		if !listed {
			continue
		}
		if _, ok := decided[f.adv.ID]; !ok {
			if decided[f.adv.ID], err = a.Store.CurrentDecisions(ctx, f.adv.ID); err != nil {
				return nil, err
			}
		}
		hit := KEVHit{AdvisoryID: f.adv.ID, TrackingID: f.adv.TrackingID, Title: f.adv.Title, CVE: f.cve, Entry: entry}
		for id := range f.assets {
			if d, ok := decided[f.adv.ID][id]; ok && d.Kind == string(domain.DecisionNotAffected) && domain.DecisionState(d.State).Counts() {
				continue // the plant states the asset not affected
			}
			hit.Assets = append(hit.Assets, id)
		}
		if len(hit.Assets) == 0 {
			continue
		}
		slices.Sort(hit.Assets)
		for _, id := range hit.Assets {
			hit.Names = append(hit.Names, inv.ByID[id].Name)
		}
		out = append(out, hit)
	}
	slices.SortFunc(out, func(x, y KEVHit) int { return strings.Compare(x.AdvisoryID+"\x00"+x.CVE, y.AdvisoryID+"\x00"+y.CVE) })
	return out, nil
}

// checkKEV records a kev_advisory notification once per advisory and CVE that CISA lists as
// known exploited and that names assets of the inventory, whichever came first: the
// advisory or the catalog's entry. It matches only while someone is told of the kind, and
// only when the advisories, the inventory or the catalog changed since it last matched.
func (a *Activities) checkKEV(ctx context.Context, record func(string, store.Event) error) error {
	told, err := a.anyoneTold(ctx, notify.KEVAdvisory)
	if err != nil || !told {
		return err
	}
	state, err := a.Store.MatchState(ctx)
	if err != nil {
		return err
	}
	a.kev.mu.Lock()
	defer a.kev.mu.Unlock()
	if state == a.kev.state {
		return nil
	}
	hits, err := a.kevHits(ctx)
	if err != nil {
		return err
	}
	for _, h := range hits {
		n := min(len(h.Assets), maxNamedAssets)
		ev := store.Event{Actor: "otpatch", Role: "system", Action: notify.KEVAdvisoryAction, SubjectType: "advisory", SubjectID: h.AdvisoryID,
			Details: map[string]any{"cve": h.CVE, "tracking_id": h.TrackingID, "title": h.Title, "kev_date_added": h.Entry.DateAdded, "kev_due_date": h.Entry.DueDate,
				"ransomware": h.Entry.Ransomware == "Known", "assets": len(h.Assets), "asset_ids": h.Assets[:n], "asset_names": h.Names[:n]}}
		if err := record(fmt.Sprintf("kev-%s-%s", h.AdvisoryID, h.CVE), ev); err != nil {
			return err
		}
	}
	a.kev.state = state
	return nil
}

// anyoneTold reports whether a subscription or a webhook takes notifications of kind k.
func (a *Activities) anyoneTold(ctx context.Context, k notify.Kind) (bool, error) {
	subs, err := a.Store.SubscriptionsTo(ctx, string(k))
	if err != nil || len(subs) > 0 {
		return len(subs) > 0, err
	}
	hooks, err := a.Store.Webhooks(ctx)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(hooks, func(h store.Webhook) bool { return WebhookTakes(h, k) }), nil
}
