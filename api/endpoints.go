package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/adapters"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
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
	// Answer with the asset as stored (its new updated_at).
	if as, err = s.Store.Asset(r.Context(), as.ID); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, as)
}

// maxLogPieces bounds one page of a deployment log (each piece is at most 64 KiB).
const maxLogPieces = 500

// logPageKey is the page key of a piece of a deployment log: its seq and id.
func logPageKey(l store.DeploymentLogLine) string {
	return cursorKey(strconv.FormatInt(l.Seq, 10), l.ID)
}

func (s *server) deploymentLog(w http.ResponseWriter, r *http.Request) {
	c, err := s.Store.Campaign(r.Context(), chi.URLParam(r, "campaignID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	assetID := chi.URLParam(r, "assetID")
	if in, err := s.Store.CampaignIncludes(r.Context(), c.ID, assetID); err != nil || !in {
		if err == nil {
			err = fmt.Errorf("asset %s is not in campaign %s: %w", assetID, c.ID, store.ErrNotFound)
		}
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	if pr.Limit > maxLogPieces {
		v.Add("limit", "must be a whole number from 1 to %d for a deployment log", maxLogPieces)
	}
	var after store.LogCursor
	if pr.After != "" {
		parts, ok := splitCursor(pr.After, 2)
		var seq int64
		if ok {
			seq, err = strconv.ParseInt(parts[0], 10, 64)
		}
		if !ok || err != nil {
			v.Add("after", "is not a cursor of a deployment log; pass the next of the previous page as it was, or leave after out for the first page")
		} else {
			after = store.LogCursor{Seq: seq, ID: parts[1]}
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	lines, err := s.Store.DeploymentLog(r.Context(), c.ID, assetID, after, pr.Limit+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pageFrom(lines, logPageKey, pr.Limit))
}

// endpointOperations are the routes of endpoints.go.
func (s *server) endpointOperations() []operation {
	return []operation{
		{Method: "PUT", Path: "/api/v1/assets/{assetID}/endpoint", ID: "setAssetEndpoint", Tag: "Inventory", Summary: "Set how an ssh or agent asset is reached",
			Description: "Address and user (ssh only), the absolute paths whose archive is the asset's backup, and otpatch's work directory on the device; audited. " +
				"An asset of the simulator adapter has no endpoint (422). The endpoint of an asset in a campaign that has not ended does not change (409): its restore must go where its backup came from.",
			Allow: engineers, Body: adapters.Endpoint{}, Answers: []answer{ok(store.Asset{})}, Handle: s.setEndpoint},
		{Method: "GET", Path: "/api/v1/campaigns/{campaignID}/assets/{assetID}/log", ID: "listDeploymentLog", Tag: "Evidence", Summary: "Read the deployment log of one asset in a campaign",
			Description: fmt.Sprintf("What the device printed during backup, install, verify and rollback, oldest first, in pieces of at most 64 KiB; at most %d pieces a page. "+
				"An asset that is not in the campaign is 404.", maxLogPieces),
			Allow: staff, Query: []param{qInt("limit", fmt.Sprintf("How many pieces to answer (default %d)", defaultPageLimit), 1, maxLogPieces), pageQuery[1]},
			Answers: []answer{ok(page[store.DeploymentLogLine]{})}, Handle: s.deploymentLog},
	}
}
