package airgap

import (
	"context"
	"encoding/json"
	"fmt"

	"sort"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/transfer"
)

// inventoryDoc is inventory.json of an inventory bundle: the site's assets as its own
// instance knows them, so that the central instance plans with the site's truth.
type inventoryDoc struct {
	SiteID    string           `json:"site_id"`
	WrittenAt time.Time        `json:"written_at"`
	Assets    []inventoryAsset `json:"assets"`
}

type inventoryAsset struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	ZoneID           string `json:"zone_id"`
	ProductID        string `json:"product_id"`
	InstalledVersion string `json:"installed_version"`
}

// maxInventoryAssets bounds the assets of one inventory bundle.
const maxInventoryAssets = 200000

// ExportInventory writes an inventory bundle of this site's assets, at its own instance.
func (n *Node) ExportInventory(ctx context.Context, expiresIn time.Duration, ev store.Event) (*Exported, error) {
	if !n.SiteMode() {
		return nil, invalid("inventory bundles are written by an air-gapped site's own instance (started with --transfer-site)")
	}
	as, err := n.Store.Assets(ctx, store.AssetFilter{SiteID: n.Site})
	if err != nil {
		return nil, err
	}
	doc := inventoryDoc{SiteID: n.Site, WrittenAt: n.Store.Now().UTC(), Assets: []inventoryAsset{}}
	for _, a := range as {
		doc.Assets = append(doc.Assets, inventoryAsset{ID: a.ID, Name: a.Name, ZoneID: a.ZoneID, ProductID: a.ProductID, InstalledVersion: a.InstalledVersion})
	}
	sort.Slice(doc.Assets, func(i, j int) bool { return doc.Assets[i].ID < doc.Assets[j].ID })
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	files := []transfer.File{transfer.BytesFile(fileInventory, append(b, '\n'))}
	return n.writeNext(ctx, n.Site, transfer.KindInventory, expiresIn, files, "", "", fmt.Sprintf("%d assets", len(doc.Assets)), ev)
}

// importInventory applies a verified inventory bundle at the central instance: the installed
// version of each of the site's assets it knows. Assets it does not know, or knows at another
// site, are listed and left alone.
func (n *Node) importInventory(ctx context.Context, b *transfer.Bundle, t *store.Transfer, ev *store.Event, details map[string]any, out *Imported) error {
	raw, err := readLimited(b.FilePath(fileInventory), 256<<20)
	if err != nil {
		return refused(string(transfer.ReasonMissingFile), "the inventory bundle holds no %s", fileInventory)
	}
	var doc inventoryDoc
	if err := json.Unmarshal(raw, &doc); err != nil || doc.SiteID != b.Header.SiteID {
		return refused("bad_inventory", "%s is not an inventory of site %s otpatch can read", fileInventory, b.Header.SiteID)
	}
	if len(doc.Assets) > maxInventoryAssets {
		return refused("bad_inventory", "the inventory lists %d assets; one bundle takes at most %d", len(doc.Assets), maxInventoryAssets)
	}
	known, err := n.Store.Assets(ctx, store.AssetFilter{SiteID: b.Header.SiteID})
	if err != nil {
		return err
	}
	byID := map[string]store.Asset{}
	for _, a := range known {
		byID[a.ID] = a
	}
	// A results bundle the site wrote after this inventory knows better what its targets run.
	newer := map[string]bool{}
	later, err := n.Store.Transfers(ctx, store.TransferFilter{SiteID: b.Header.SiteID, Kind: string(transfer.KindResults), Direction: store.TransferIn, Limit: 1000})
	if err != nil {
		return err
	}
	for _, r := range later {
		if !r.CreatedAt.After(b.Header.CreatedAt) {
			continue
		}
		cas, err := n.Store.CampaignAssets(ctx, r.CampaignID)
		if err != nil {
			return err
		}
		for _, ca := range cas {
			newer[ca.AssetID] = true
		}
	}
	versions := map[string]string{}
	changed := []map[string]any{}
	kept := []string{}
	out.NotInInventory = []string{}
	for _, a := range doc.Assets {
		k, ok := byID[a.ID]
		if !ok {
			if len(out.NotInInventory) < 1000 {
				out.NotInInventory = append(out.NotInInventory, fmt.Sprintf("%s (%s)", clip(a.Name, 200), clip(a.ID, 100)))
			}
			continue
		}
		if len(a.InstalledVersion) > 100 {
			return refused("bad_inventory", "asset %s's installed version is longer than 100 characters", a.ID)
		}
		if a.InstalledVersion != k.InstalledVersion && newer[a.ID] {
			kept = append(kept, k.Name)
			continue
		}
		if a.InstalledVersion != k.InstalledVersion {
			versions[a.ID] = a.InstalledVersion
			changed = append(changed, map[string]any{"asset_id": a.ID, "name": k.Name, "from": k.InstalledVersion, "to": a.InstalledVersion})
		}
	}
	details["assets"], details["changed"], details["not_in_inventory"] = len(doc.Assets), changed, out.NotInInventory
	if len(kept) > 0 {
		details["kept_from_newer_results"] = kept
	}
	t.Detail = fmt.Sprintf("%d assets, %d installed versions changed", len(doc.Assets), len(changed))
	ev.Details = details
	err = n.Store.RecordTransfer(ctx, t, *ev, func(tx *gorm.DB) error { return store.SetInstalledVersions(tx, n.Store.Now(), versions) })
	if err != nil {
		return err
	}
	out.Summary = fmt.Sprintf("inventory of site %s: %d assets, %d installed versions changed, %d not in this instance's inventory", b.Header.SiteID, len(doc.Assets), len(changed), len(out.NotInInventory))
	if len(kept) > 0 {
		out.Summary += fmt.Sprintf("; %d kept as newer results of the site say", len(kept))
	}
	return nil
}
