package api

import (
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/domain"
)

// Reaching real devices: an engineer sets how an ssh or agent asset is reached (its endpoint),
// and anyone on staff reads what a device printed while a campaign changed it.

func (s *server) setEndpoint(w http.ResponseWriter, r *http.Request) {
	as, err := s.Store.Asset(r.Context(), chi.URLParam(r, "assetID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in adapters.Endpoint
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	// The endpoint a campaign backed an asset up from is where its restore must go: it does
	// not change while a campaign that includes the asset is under way.
	if cid, err := s.Store.ActiveCampaignOf(r.Context(), as.ID); err != nil {
		s.fail(w, r, err)
		return
	} else if cid != "" {
		s.refuse(w, r, http.StatusConflict, "endpoint.in_campaign", fmt.Sprintf("asset %s is in campaign %s, which has not ended; change its endpoint after the campaign ends or is aborted", as.Name, cid))
		return
	}
	v := &domain.ValidationError{What: "endpoint"}
	if !adapters.NeedsEndpoint(as.Adapter) {
		v.Add("adapter", "asset %s uses the %s adapter, which has no endpoint", as.Name, as.Adapter)
	} else {
		adapters.CheckEndpoint(as.Adapter, &in, v.Add)
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := event(r, "asset.endpoint_set")
	ev.Details = map[string]any{"from": as.Endpoint, "to": in}
	if err := s.Store.SetAssetEndpoint(r.Context(), as.ID, in, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	as.Endpoint = &in
	writeJSON(w, http.StatusOK, as)
}

// maxLogPieces bounds one deployment-log answer (each piece is at most 64 KiB).
const maxLogPieces = 500

func (s *server) deploymentLog(w http.ResponseWriter, r *http.Request) {
	if !allowQuery(w, r) {
		return
	}
	c, err := s.Store.Campaign(r.Context(), chi.URLParam(r, "campaignID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lines, err := s.Store.DeploymentLog(r.Context(), c.ID, chi.URLParam(r, "assetID"), maxLogPieces)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaign_id": c.ID, "asset_id": chi.URLParam(r, "assetID"), "log": lines})
}

// endpointOperations are the routes of endpoints.go.
func (s *server) endpointOperations() []operation {
	return []operation{
		{Method: "PUT", Path: "/api/v1/assets/{assetID}/endpoint", ID: "setEndpoint", Tag: "Inventory", Summary: "Set how an ssh or agent asset is reached: address and user (ssh), the absolute paths its backup archives, and otpatch's work directory on the device; audited", Allow: engineers, Roles: "engineer, admin", /* body: {address, user, backup_paths, work_dir} */ Answers: []answer{ok(nil)}, Handle: s.setEndpoint},
		{Method: "GET", Path: "/api/v1/campaigns/{campaignID}/assets/{assetID}/log", ID: "deploymentLog", Tag: "Campaigns", Summary: "The deployment log of one asset in a campaign: what the device printed during backup, install, verify and rollback, oldest first", Allow: staff, Roles: "engineer, approver, safety, auditor, admin", Answers: []answer{ok(nil)}, Handle: s.deploymentLog},
	}
}
