package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// Decisions on advisories: for an advisory and a group of the assets it hits, engineers decide
// to patch (the campaign is planned in the same request, as POST /api/v1/campaigns plans it),
// to mitigate (a compensating control on the advisory's NERC mitigation plan), to accept the
// risk (an approver other than the requester approves it, until its expiry) or that the assets
// are not affected (a CSAF VEX justification). Staff read them; each affected asset of an
// advisory shows its current decision, and a campaign the advisory it came from.

// Enums of the decision API: the value sets come from internal/domain.
type (
	decisionKind     string
	controlKind      string
	vexJustification string
)

func init() {
	enums[reflect.TypeFor[decisionKind]()] = func() []string { return stringsOf(domain.DecisionKinds()) }
	enums[reflect.TypeFor[controlKind]()] = func() []string { return stringsOf(domain.ControlKinds()) }
	enums[reflect.TypeFor[vexJustification]()] = func() []string { return stringsOf(domain.VEXJustifications()) }
	namedEnums["decision_kind"] = func() []string { return stringsOf(domain.DecisionKinds()) }
	namedEnums["decision_state"] = func() []string { return stateNames(domain.DecisionStateInfo()) }
	namedEnums["control_kind"] = func() []string { return stringsOf(domain.ControlKinds()) }
	namedEnums["vex_justification"] = func() []string { return stringsOf(domain.VEXJustifications()) }
}

// advisoryDecisionRequest is a decision on an advisory: the kind, the assets, and the kind's fields.
type advisoryDecisionRequest struct {
	Kind decisionKind `json:"kind" api:"required" doc:"patch: plan the campaign with the qualified patch that fixes the assets; mitigate: a compensating control; accept: accept the risk until expires_on (another person approves); not_affected: a CSAF VEX statement"`
	// The group: the named assets, those of a zone and/or product, or all affected assets.
	AssetIDs  []string `json:"asset_ids,omitempty" doc:"The affected assets the decision covers (at most 10000); or leave it out and give zone_id and/or product_id, or all"`
	ZoneID    string   `json:"zone_id,omitempty" doc:"The affected assets of this zone (resolved to their ids now and stored)"`
	ProductID string   `json:"product_id,omitempty" doc:"The affected assets of this product (resolved to their ids now and stored)"`
	All       bool     `json:"all,omitempty" doc:"Every asset the advisory hits today"`
	// Patch.
	PatchID      string `json:"patch_id,omitempty" doc:"patch: the qualified patch to deploy; by default the one the advisory answer links for the assets"`
	CampaignName string `json:"campaign_name,omitempty" doc:"patch: the campaign's name (at most 200 characters); by default the advisory's tracking id and the patch"`
	// Mitigate.
	ControlKind controlKind `json:"control_kind,omitempty" doc:"mitigate: the kind of compensating control"`
	Description string      `json:"description,omitempty" doc:"mitigate: what the control does (at most 4000 characters)"`
	Owner       string      `json:"owner,omitempty" doc:"mitigate: the person who keeps the control in place"`
	Evidence    string      `json:"evidence,omitempty" doc:"mitigate: where the control can be checked: a rule id, a change ticket, a URL (at most 4000 characters)"`
	ReviewDate  string      `json:"review_date,omitempty" doc:"mitigate: the day the control is reviewed (YYYY-MM-DD, today to a year ahead); the advisory's NERC mitigation plan is due then"`
	// Accept.
	Justification string `json:"justification,omitempty" doc:"accept: why the risk is acceptable (at most 4000 characters)"`
	Approver      string `json:"approver,omitempty" doc:"accept: the user name of the approver asked to approve it; never the requester"`
	ExpiresOn     string `json:"expires_on,omitempty" doc:"accept: the last UTC day the acceptance counts (YYYY-MM-DD), after today and at most 365 days ahead"`
	// Not affected.
	VEXJustification vexJustification `json:"vex_justification,omitempty" doc:"not_affected: the CSAF VEX justification"`
	ImpactStatement  string           `json:"impact_statement,omitempty" doc:"not_affected: why the assets are not affected (at most 4000 characters)"`
}

// assetDecision is an affected asset's current decision, as the advisory answer shows it.
type assetDecision struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind" enum:"decision_kind"`
	State       string    `json:"state" enum:"decision_state"`
	RequestedBy string    `json:"requested_by"`
	RequestedAt time.Time `json:"requested_at"`
	CampaignID  string    `json:"campaign_id,omitempty"`
	ExpiresOn   string    `json:"expires_on,omitempty"`
	ReviewOn    string    `json:"review_date,omitempty"`
}

// campaignOrigin is the advisory decision a campaign was planned from.
type campaignOrigin struct {
	DecisionID string    `json:"decision_id"`
	AdvisoryID string    `json:"advisory_id"`
	TrackingID string    `json:"tracking_id"`
	DecidedBy  string    `json:"decided_by"`
	DecidedAt  time.Time `json:"decided_at"`
}

// originOf is the advisory decision campaign id was planned from; nil when it was planned
// directly.
func (s *server) originOf(ctx context.Context, campaignID string) (*campaignOrigin, error) {
	ds, err := s.Store.DecisionsPage(ctx, store.DecisionFilter{CampaignID: campaignID, Limit: 1})
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	d := ds[0]
	return &campaignOrigin{DecisionID: d.ID, AdvisoryID: d.AdvisoryID, TrackingID: d.TrackingID, DecidedBy: d.RequestedBy, DecidedAt: d.RequestedAt}, nil
}

// withDecisions sets each affected asset's current decision in an advisory answer.
func (s *server) withDecisions(ctx context.Context, v *advisoryView) error {
	cur, err := s.Store.CurrentDecisions(ctx, v.ID)
	if err != nil {
		return err
	}
	for i := range v.Affected {
		if d, ok := cur[v.Affected[i].AssetID]; ok {
			v.Affected[i].Decision = &assetDecision{ID: d.ID, Kind: d.Kind, State: d.State, RequestedBy: d.RequestedBy, RequestedAt: d.RequestedAt,
				CampaignID: d.CampaignID, ExpiresOn: d.ExpiresOn, ReviewOn: d.ReviewOn}
		}
	}
	return nil
}

// decisionProblem is a decision refused for what the advisory or inventory says (409).
type decisionProblem string

func (p decisionProblem) Error() string { return string(p) }

// resolveGroup reads which affected assets a request names, adding faults to v.
func resolveGroup(v *domain.ValidationError, in advisoryDecisionRequest, affected []affectedAssetView) ([]affectedAssetView, store.DecisionGroup) {
	byID := map[string]affectedAssetView{}
	for _, a := range affected {
		byID[a.AssetID] = a
	}
	filter := in.ZoneID != "" || in.ProductID != ""
	ways := 0
	for _, set := range []bool{len(in.AssetIDs) > 0, filter, in.All} {
		if set {
			ways++
		}
	}
	if ways != 1 {
		v.Add("asset_ids", "choose the assets one way: asset_ids, zone_id and/or product_id, or all: true")
		return nil, store.DecisionGroup{}
	}
	var out []affectedAssetView
	switch {
	case in.All:
		out = affected
		if len(out) == 0 {
			v.Add("all", "the advisory hits no asset of the inventory; there is nothing to decide")
		}
		return out, store.DecisionGroup{By: store.GroupAll}
	case filter:
		for _, a := range affected {
			if (in.ZoneID == "" || a.ZoneID == in.ZoneID) && (in.ProductID == "" || a.ProductID == in.ProductID) {
				out = append(out, a)
			}
		}
		if len(out) == 0 {
			v.Add("zone_id", "no asset the advisory hits is in zone %q and of product %q; check the ids", in.ZoneID, in.ProductID)
		}
		return out, store.DecisionGroup{By: store.GroupFilter, ZoneID: in.ZoneID, ProductID: in.ProductID}
	}
	if len(in.AssetIDs) > domain.MaxDecisionAssets {
		v.Add("asset_ids", "names %d assets; one decision covers at most %d", len(in.AssetIDs), domain.MaxDecisionAssets)
		return nil, store.DecisionGroup{}
	}
	var unknown []string
	seen := map[string]bool{}
	for _, id := range in.AssetIDs {
		a, ok := byID[id]
		switch {
		case !ok:
			unknown = append(unknown, id)
		case !seen[id]:
			seen[id] = true
			out = append(out, a)
		}
	}
	if len(unknown) > 0 {
		shown := unknown[:min(len(unknown), 10)]
		v.Add("asset_ids", "%s: not among the assets the advisory hits (%d listed); decide only for affected assets", strings.Join(shown, ", "), len(unknown))
	}
	return out, store.DecisionGroup{By: store.GroupAssetIDs}
}

// patchFor is the qualified patch a patch decision deploys to the assets: the one named, or the
// one the advisory answer links for every asset of the group.
func patchFor(in advisoryDecisionRequest, group []affectedAssetView) (string, error) {
	if in.PatchID != "" {
		return in.PatchID, nil
	}
	var none []string
	patches := map[string][]string{}
	for _, a := range group {
		if a.Patch == nil {
			none = append(none, a.Name)
			continue
		}
		patches[a.Patch.ID] = append(patches[a.Patch.ID], a.Name)
	}
	slices.Sort(none)
	if len(none) > 0 {
		return "", decisionProblem(fmt.Sprintf("no qualified patch fixes %s (%d of the %d assets); mitigate or accept the risk for them, or wait until the vendor's patch is qualified",
			strings.Join(none[:min(len(none), 10)], ", "), len(none), len(group)))
	}
	if len(patches) > 1 {
		var parts []string
		for id, names := range patches {
			parts = append(parts, fmt.Sprintf("%s for %d (%s)", id, len(names), names[0]))
		}
		slices.Sort(parts)
		return "", decisionProblem("the assets need different patches: " + strings.Join(parts, "; ") + "; decide per product (product_id) or name patch_id")
	}
	for id := range patches {
		return id, nil
	}
	return "", decisionProblem("the decision covers no asset")
}

// createDecision records a decision on an advisory; a patch decision plans its campaign first.
func (s *server) createDecision(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var in advisoryDecisionRequest
	if err := decodeUpTo(w, r, &in, campaignBodyLimit(domain.MaxDecisionAssets)); err != nil {
		s.fail(w, r, err)
		return
	}
	id := chi.URLParam(r, "advisoryID")
	a, err := s.Store.Advisory(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		notFoundProblem(w, r, "advisory "+id)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	inv, err := s.advisoryInventory(ctx, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	view, err := inv.view(a, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "decision"}
	group, sel := resolveGroup(v, in, view.Affected)
	d := store.Decision{AdvisoryID: a.ID, Kind: string(in.Kind), Group: sel,
		ControlKind: string(in.ControlKind), Description: strings.TrimSpace(in.Description), Owner: strings.TrimSpace(in.Owner), Evidence: strings.TrimSpace(in.Evidence), ReviewOn: in.ReviewDate,
		Justification: strings.TrimSpace(in.Justification), Approver: strings.TrimSpace(in.Approver), ExpiresOn: in.ExpiresOn,
		VEXJustification: string(in.VEXJustification), ImpactStatement: strings.TrimSpace(in.ImpactStatement)}
	domain.CheckDecision(v, domain.DecisionKind(in.Kind), d.Fields(), store.DayOf(s.Store.Now()))
	if in.Kind != decisionKind(domain.DecisionPatch) {
		if in.PatchID != "" {
			v.Add("patch_id", "belongs to a patch decision: leave it out")
		}
		if in.CampaignName != "" {
			v.Add("campaign_name", "belongs to a patch decision: leave it out")
		}
	} else if n := len([]rune(in.CampaignName)); n > 200 {
		v.Add("campaign_name", "is %d characters long; at most 200 are allowed", n)
	}
	actor := actorOf(r)
	if d.Approver != "" && in.Kind == decisionKind(domain.DecisionAccept) {
		u, err := s.Store.UserByName(ctx, d.Approver)
		switch {
		case errors.Is(err, store.ErrNotFound):
			v.Add("approver", "no user is named %q; name the approver who is to approve the acceptance", d.Approver)
		case err != nil:
			s.fail(w, r, err)
			return
		case u.ID == actor.UserID || u.Username == actor.Name:
			v.Add("approver", "names you; a risk acceptance is approved by another person")
		default:
			d.Approver = u.Username
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	for _, g := range group {
		d.AssetIDs = append(d.AssetIDs, g.AssetID)
	}
	if in.Kind == decisionKind(domain.DecisionPatch) {
		patchID, err := patchFor(in, group)
		if err != nil {
			writeProblem(w, r, problem{Status: http.StatusConflict, Detail: err.Error()})
			return
		}
		d.ID, d.PatchID = store.NewID("dec"), patchID
		name := in.CampaignName
		if name == "" {
			name = a.TrackingID
			if p, err := s.Store.Patch(ctx, patchID); err == nil {
				name += " — " + p.PatchRef + " " + p.Version
			}
			if r := []rune(name); len(r) > 200 {
				name = string(r[:200])
			}
		}
		cid, err := s.planCampaign(r, campaignRequest{Name: name, PatchID: patchID, AssetIDs: d.AssetIDs},
			map[string]any{"advisory_id": a.ID, "tracking_id": a.TrackingID, "decision_id": d.ID})
		if err != nil {
			s.failCampaign(w, r, err)
			return
		}
		d.CampaignID = cid
	}
	if err := s.Store.CreateDecision(ctx, &d, actor.UserID, event(r, "decision.recorded")); err != nil {
		s.fail(w, r, err)
		return
	}
	locateCreated(w, "decisions", d.ID)
	writeJSON(w, http.StatusCreated, d)
}

func (s *server) listDecisions(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	q := r.URL.Query()
	f := store.DecisionFilter{AdvisoryID: q.Get("advisory_id"), AssetID: q.Get("asset_id"), Kind: q.Get("kind"), State: q.Get("state"), Limit: pr.Limit + 1}
	if f.Kind != "" && !domain.DecisionKind(f.Kind).Valid() {
		v.Add("kind", "must be one of %s, got %q", strings.Join(stringsOf(domain.DecisionKinds()), ", "), f.Kind)
	}
	oneOfStates(v, "state", f.State, domain.DecisionStateInfo())
	f.AfterAt, f.AfterID = newestFirstAfter(pr, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	ds, err := s.Store.DecisionsPage(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pageFrom(ds, func(d store.Decision) string { return newestFirstKey(d.RequestedAt, d.ID) }, pr.Limit))
}

func (s *server) getDecision(w http.ResponseWriter, r *http.Request) {
	d, err := s.Store.Decision(r.Context(), chi.URLParam(r, "decisionID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *server) approveDecision(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "decisionID")
	d, err := s.Store.ApproveDecision(r.Context(), id, actorOf(r), event(r, "decision.approved"))
	if errors.Is(err, store.ErrForbidden) {
		// The requester approving his own acceptance, or an approver it does not name: refused
		// and audited.
		s.refuse(w, r, http.StatusForbidden, "decision.approval_refused", strings.TrimSuffix(err.Error(), ": "+store.ErrForbidden.Error()))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// rejectRequest is an approver's refusal of a risk acceptance.
type rejectRequest struct {
	Reason string `json:"reason" doc:"Why the risk is not accepted (1 to 2000 characters); the requester and the auditor read it"`
}

func (s *server) rejectDecision(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "decisionID")
	var in rejectRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "rejection"}
	if strings.TrimSpace(in.Reason) == "" {
		v.Add("reason", "is required: say why the risk is not accepted")
	} else if n := len([]rune(in.Reason)); n > 2000 {
		v.Add("reason", "is %d characters long; at most 2000 are allowed", n)
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.Store.RejectDecision(r.Context(), id, actorOf(r), strings.TrimSpace(in.Reason), event(r, "decision.rejected"))
	if errors.Is(err, store.ErrForbidden) {
		s.refuse(w, r, http.StatusForbidden, "decision.rejection_refused", strings.TrimSuffix(err.Error(), ": "+store.ErrForbidden.Error()))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// decisionOperations are the routes of decisions.go.
func (s *server) decisionOperations() []operation {
	return []operation{
		{Method: "POST", Path: "/api/v1/advisories/{advisoryID}/decisions", ID: "decideAdvisory", Tag: "Advisories", Allow: engineers,
			Summary: "Decide what to do about an advisory for a group of the assets it hits",
			Description: "The group is the named affected assets, those of a zone and/or product, or all of them, resolved to ids now and stored. " +
				"patch plans the campaign with the qualified patch that fixes the assets, exactly as POST /api/v1/campaigns does, and answers its campaign_id; " +
				"no qualified patch for an asset, or different patches for the group, is refused (409). " +
				"mitigate files the advisory's NERC CIP-007-6 R2 mitigation plan (recording its evaluation as mitigate when there is none), due on the review date. " +
				"accept is pending until the approver it names, never the requester, approves it; it counts up to its expiry day. " +
				"not_affected states a CSAF VEX justification and impact. A decision in force supersedes the older decisions of its assets, which are kept. " +
				"Fields of another kind are refused (422), with every failing field named.",
			Body:    advisoryDecisionRequest{},
			Answers: []answer{created(store.Decision{})}, Handle: s.createDecision},
		{Method: "GET", Path: "/api/v1/decisions", ID: "listDecisions", Tag: "Advisories", Allow: staff,
			Summary:     "List decisions on advisories, newest first",
			Description: "Without their asset lists (see GET /api/v1/decisions/{decisionID}). An advisory_id or asset_id that no decision has answers an empty page.",
			Query: paged(qString("advisory_id", "Only decisions on this advisory"),
				qString("asset_id", "Only decisions that cover this asset, superseded ones included: with advisory_id, the asset's history for the advisory"),
				qEnum("kind", "Only decisions of this kind", stringsOf(domain.DecisionKinds())...),
				qEnum("state", "Only decisions in this state (expired: approved acceptances past their expiry day)", stateNames(domain.DecisionStateInfo())...)),
			Answers: []answer{ok(page[store.Decision]{})}, Handle: s.listDecisions},
		{Method: "GET", Path: "/api/v1/decisions/{decisionID}", ID: "getDecision", Tag: "Advisories", Allow: staff,
			Summary: "A decision with its assets",
			Answers: []answer{ok(store.Decision{})}, Handle: s.getDecision},
		{Method: "POST", Path: "/api/v1/decisions/{decisionID}/approve", ID: "approveDecision", Tag: "Advisories", Allow: []domain.Role{domain.RoleApprover},
			Summary: "Approve a pending risk acceptance",
			Description: "By the approver the acceptance names, never its requester (the same person under any token or name): that is refused (403) and audited. " +
				"Another kind of decision, one already approved or superseded, or one past its expiry day is refused (409). " +
				"The approved acceptance supersedes the older decisions of its assets.",
			Answers: []answer{ok(store.Decision{})}, Handle: s.approveDecision},
		{Method: "POST", Path: "/api/v1/decisions/{decisionID}/reject", ID: "rejectDecision", Tag: "Advisories", Allow: []domain.Role{domain.RoleApprover},
			Summary: "Reject a pending risk acceptance, with the reason",
			Description: "By the approver the acceptance names, never its requester: that is refused (403) and audited. A reason is required (422). " +
				"Another kind of decision, or an acceptance that is not pending, is refused (409). The rejected acceptance never counted: " +
				"the assets keep their earlier decision, and the engineer decides again.",
			Body:    rejectRequest{},
			Answers: []answer{ok(store.Decision{})}, Handle: s.rejectDecision},
	}
}
