package workflows

import (
	"slices"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// The search attributes otpatch's workflows carry, so that operators list and filter them in
// the Temporal UI and CLI, e.g. `temporal workflow list --query "OtpatchAsset = 'ast_x'"`.
// A campaign carries its campaign, patch, zones and sites; each asset's deployment its
// campaign, patch, asset, zone and site; a qualification its patch. They are registered in the
// namespace by otpatch migrate (with --temporal), otpatch dev, and at every server and worker
// start; a workflow is started with them only once they are (Indexed).
var (
	SearchCampaign = temporal.NewSearchAttributeKeyKeyword("OtpatchCampaign")
	SearchPatch    = temporal.NewSearchAttributeKeyKeyword("OtpatchPatch")
	SearchAsset    = temporal.NewSearchAttributeKeyKeyword("OtpatchAsset")
	SearchZones    = temporal.NewSearchAttributeKeyKeywordList("OtpatchZones")
	SearchSites    = temporal.NewSearchAttributeKeyKeywordList("OtpatchSites")
)

// SearchAttributeTypes are the search attributes to register, by name.
func SearchAttributeTypes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		SearchCampaign.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchPatch.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchAsset.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SearchZones.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
		SearchSites.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD_LIST,
	}
}

// CampaignSearchAttributes are a campaign workflow's search attributes; zoneSites maps each
// zone of the plan to its site.
func CampaignSearchAttributes(campaignID, patchID string, zoneSites map[string]string) temporal.SearchAttributes {
	var zones, sites []string
	for z, s := range zoneSites {
		zones = append(zones, z)
		if s != "" && !slices.Contains(sites, s) {
			sites = append(sites, s)
		}
	}
	slices.Sort(zones)
	slices.Sort(sites)
	return temporal.NewSearchAttributes(SearchCampaign.ValueSet(campaignID), SearchPatch.ValueSet(patchID),
		SearchZones.ValueSet(zones), SearchSites.ValueSet(sites))
}

// assetSearchAttributes are an asset deployment's search attributes.
func assetSearchAttributes(campaignID, patchID, assetID, zoneID, siteID string) temporal.SearchAttributes {
	updates := []temporal.SearchAttributeUpdate{SearchCampaign.ValueSet(campaignID), SearchPatch.ValueSet(patchID), SearchAsset.ValueSet(assetID)}
	if zoneID != "" {
		updates = append(updates, SearchZones.ValueSet([]string{zoneID}))
	}
	if siteID != "" {
		updates = append(updates, SearchSites.ValueSet([]string{siteID}))
	}
	return temporal.NewSearchAttributes(updates...)
}
