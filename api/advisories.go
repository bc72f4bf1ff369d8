package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/csaf"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/store"
)

// CSAF 2.0 advisories: engineers ingest the vendors' (or CISA's) advisories; staff see which
// assets each one hits, what remedies it, and which qualified patch fixes it.

// advisoryView is an advisory as the API shows it.
type advisoryView struct {
	store.Advisory
	// Ingest is what a POST did: created, unchanged or replaced.
	Ingest         string   `json:"ingest,omitempty" doc:"What the ingest did (created, unchanged or replaced); only in the answer to POST"`
	Revision       string   `json:"revision"`
	CVEs           []string `json:"cves"`
	MaxCVSS        float64  `json:"max_cvss"`
	Remediation    string   `json:"remediation"`
	AffectedAssets int      `json:"affected_asset_count"`
	// NotAffectedAssets counts the assets a CSAF VEX document states are known not affected.
	NotAffectedAssets int `json:"not_affected_asset_count"`
	// The rest is shown for one advisory, not in the list.
	Products        []csaf.TreeProduct   `json:"products,omitempty"`
	Vulnerabilities []csaf.Vulnerability `json:"vulnerabilities,omitempty"`
	Affected        []affectedAssetView  `json:"affected_assets,omitempty"`
	VendorFixes     []vendorFixView      `json:"vendor_fixes,omitempty"`
	NotAffected     []notAffectedView    `json:"not_affected_assets,omitempty" doc:"The assets the document (CSAF VEX) states are known not affected, with the flag or impact statement that justifies it"`
}

// notAffectedView is an asset a CSAF VEX document states is not affected.
type notAffectedView struct {
	csaf.NotAffectedAsset
	Name   string `json:"name"`
	ZoneID string `json:"zone_id"`
}

// affectedAssetView is an asset an advisory hits, with the qualified patch that fixes it.
type affectedAssetView struct {
	csaf.AffectedAsset
	Name   string `json:"name"`
	ZoneID string `json:"zone_id"`
	// Patch is the qualified otpatch patch for the asset's product whose fixed version is at
	// least the one the vendor fix names; null when there is none (yet).
	Patch *patchLink `json:"patch"`
	// Decision is the asset's current decision on the advisory (decisions.go); null when none.
	Decision *assetDecision `json:"decision"`
}

// vendorFixView is one vendor_fix remediation with the qualified patches that implement it.
type vendorFixView struct {
	CVEs           []string    `json:"cves"`
	CSAFProductIDs []string    `json:"csaf_product_ids"`
	FixedVersion   string      `json:"fixed_version,omitempty"`
	Details        string      `json:"details"`
	URL            string      `json:"url,omitempty"`
	Patches        []patchLink `json:"patches"`
}

type patchLink struct {
	ID           string `json:"id"`
	PatchRef     string `json:"patch_ref"`
	Version      string `json:"version"`
	FixedVersion string `json:"fixed_version"`
	ProductID    string `json:"product_id"`
}

// advisoryInventory is what an advisory is matched against.
type advisoryInventory struct {
	products []csaf.Product
	assets   []csaf.Asset
	byID     map[string]store.Asset
	// fixes are the qualified patches with their manifests' fixed versions, preferred first.
	fixes []patchLink
}

func (s *server) advisoryInventory(ctx context.Context, withPatches bool) (*advisoryInventory, error) {
	base, err := s.Store.AdvisoryInventory(ctx)
	if err != nil {
		return nil, err
	}
	inv := &advisoryInventory{products: base.Products, assets: base.Assets, byID: base.ByID}
	if !withPatches {
		return inv, nil
	}
	patches, err := s.Store.Patches(ctx, "")
	if err != nil {
		return nil, err
	}
	var superseded []patchLink
	for _, p := range patches {
		if p.Status != string(domain.PatchQualified) {
			continue
		}
		m, err := store.ManifestOf(p)
		if err != nil {
			continue
		}
		link := patchLink{ID: p.ID, PatchRef: p.PatchRef, Version: p.Version, FixedVersion: m.FixedVersion, ProductID: p.ProductID}
		if p.SupersededBy != "" {
			superseded = append(superseded, link)
		} else {
			inv.fixes = append(inv.fixes, link)
		}
	}
	inv.fixes = append(inv.fixes, superseded...)
	return inv, nil
}

// patchesFor lists the qualified patches of an inventory product that reach fixed version
// `fixed`: the closest version first, patches superseded by another last.
func (inv *advisoryInventory) patchesFor(productIDs []string, fixed string) []patchLink {
	out := []patchLink{}
	for _, p := range inv.fixes {
		if slices.Contains(productIDs, p.ProductID) && domain.CompareVersions(p.FixedVersion, fixed) >= 0 {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b patchLink) int { return domain.CompareVersions(a.FixedVersion, b.FixedVersion) })
	return out
}

// view builds what the API shows of an advisory; full adds the products, vulnerabilities,
// affected assets and vendor fixes.
func (inv *advisoryInventory) view(a store.Advisory, full bool) (advisoryView, error) {
	v := advisoryView{Advisory: a, CVEs: []string{}}
	var adv csaf.Advisory
	if err := json.Unmarshal([]byte(a.Summary), &adv); err != nil {
		return v, fmt.Errorf("advisory %s summary: %w", a.ID, err)
	}
	v.Revision, v.CVEs, v.MaxCVSS, v.Remediation = adv.Revision, adv.CVEs(), adv.MaxCVSS(), adv.RemediationSummary()
	hits := csaf.Match(&adv, inv.products, inv.assets)
	v.AffectedAssets = len(hits)
	notAffected := csaf.NotAffected(&adv, inv.products, inv.assets, hits)
	v.NotAffectedAssets = len(notAffected)
	if !full {
		return v, nil
	}
	v.NotAffected = []notAffectedView{}
	for _, na := range notAffected {
		as := inv.byID[na.AssetID]
		v.NotAffected = append(v.NotAffected, notAffectedView{NotAffectedAsset: na, Name: as.Name, ZoneID: as.ZoneID})
	}
	v.Products, v.Vulnerabilities = adv.Products, adv.Vulnerabilities
	v.Affected = []affectedAssetView{}
	for _, h := range hits {
		as := inv.byID[h.AssetID]
		av := affectedAssetView{AffectedAsset: h, Name: as.Name, ZoneID: as.ZoneID}
		if h.Remedy.Kind == csaf.RemedyUpdate {
			if ps := inv.patchesFor([]string{h.ProductID}, h.Remedy.FixedVersion); len(ps) > 0 {
				av.Patch = &ps[0]
			}
		}
		v.Affected = append(v.Affected, av)
	}
	// Each vendor fix once, with the CVEs it remedies and the patches of the inventory
	// products it names.
	same := csaf.MatchProducts(&adv, inv.products)
	v.VendorFixes = []vendorFixView{}
	index := map[string]int{}
	for _, vu := range adv.Vulnerabilities {
		for _, r := range vu.Remediations {
			if r.Category != csaf.VendorFix {
				continue
			}
			key := r.Details + "\x00" + r.URL + "\x00" + fmt.Sprint(r.ProductIDs)
			i, ok := index[key]
			if !ok {
				fix := vendorFixView{CVEs: []string{}, CSAFProductIDs: r.ProductIDs, FixedVersion: r.FixedVersion, Details: r.Details, URL: r.URL, Patches: []patchLink{}}
				if r.FixedVersion != "" {
					var invProducts []string
					for pid, ids := range same {
						if slices.ContainsFunc(ids, func(id string) bool { return slices.Contains(r.ProductIDs, id) }) {
							invProducts = append(invProducts, pid)
						}
					}
					fix.Patches = inv.patchesFor(invProducts, r.FixedVersion)
				}
				i = len(v.VendorFixes)
				index[key] = i
				v.VendorFixes = append(v.VendorFixes, fix)
			}
			if vu.CVE != "" && !slices.Contains(v.VendorFixes[i].CVEs, vu.CVE) {
				v.VendorFixes[i].CVEs = append(v.VendorFixes[i].CVEs, vu.CVE)
			}
		}
	}
	return v, nil
}

// ingestAdvisory takes a CSAF 2.0 JSON document as the body. A document that is not CSAF
// 2.0 is refused (422) with every problem named, nothing stored, and the refusal audited.
func (s *server) ingestAdvisory(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, csaf.MaxDocumentBytes)
	raw, err := io.ReadAll(r.Body)
	details := map[string]any{"bytes": len(raw)}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.refuseAdvisory(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the advisory is larger than the limit of %d bytes; nothing was stored", mbe.Limit), nil, details)
			return
		}
		s.refuseAdvisory(w, r, http.StatusBadRequest, "the upload broke off: "+err.Error()+"; nothing was stored, send it again", nil, details)
		return
	}
	sum := sha256.Sum256(raw)
	details["document_sha256"] = hex.EncodeToString(sum[:])
	ev := event(r, "advisory.ingested")
	ev.Details = details
	a, adv, outcome, err := s.Store.IngestAdvisory(r.Context(), raw, ev)
	var v *domain.ValidationError
	switch {
	case errors.As(err, &v):
		s.refuseAdvisory(w, r, http.StatusUnprocessableEntity, err.Error()+"; nothing was stored", v.Fields, details)
		return
	case errors.Is(err, store.ErrConflict):
		details["tracking_id"], details["revision"], details["cves"] = adv.TrackingID, adv.Revision, adv.CVEs()
		s.refuseAdvisory(w, r, http.StatusConflict, err.Error(), nil, details)
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	inv, err := s.advisoryInventory(r.Context(), true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	view, err := inv.view(a, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	view.Ingest = string(outcome)
	status := http.StatusCreated
	if outcome == store.AdvisoryUnchanged {
		status = http.StatusOK
	}
	locateCreated(w, "advisories", a.ID)
	writeJSON(w, status, view)
}

// refuseAdvisory answers a refused ingest and records it in the audit trail.
func (s *server) refuseAdvisory(w http.ResponseWriter, r *http.Request, status int, detail string, fields []domain.FieldError, details map[string]any) {
	ev := event(r, "advisory.ingest_refused")
	ev.SubjectType, ev.SubjectID = "advisory_ingest", r.Method+" "+r.URL.Path
	details["status"], details["reason"] = status, detail
	ev.Details = details
	if _, err := s.Store.Append(context.WithoutCancel(r.Context()), ev); err != nil {
		s.Logger.Error("audit append failed", "err", err, "request_id", requestID(r))
	}
	writeProblem(w, r, problem{Status: status, Detail: detail, Errors: fields})
}

// listAdvisories answers a page of advisories, most recently released first.
func (s *server) listAdvisories(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	q := r.URL.Query()
	f := store.AdvisoryFilter{TrackingID: q.Get("tracking_id"), Publisher: q.Get("publisher"), Limit: pr.Limit + 1}
	f.AfterRelease, f.AfterID = newestFirstAfter(pr, v)
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	as, err := s.Store.AdvisoriesPage(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pg := pageFrom(as, func(a store.Advisory) string { return newestFirstKey(a.CurrentRelease, a.ID) }, pr.Limit)
	inv, err := s.advisoryInventory(r.Context(), false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := page[advisoryView]{Items: make([]advisoryView, 0, len(pg.Items)), Next: pg.Next}
	for _, a := range pg.Items {
		v, err := inv.view(a, false)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out.Items = append(out.Items, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) getAdvisory(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "advisoryID")
	a, err := s.Store.Advisory(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFoundProblem(w, r, "advisory "+id)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	inv, err := s.advisoryInventory(r.Context(), true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := inv.view(a, true)
	if err == nil {
		err = s.withDecisions(r.Context(), &v)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// advisoryOperations are the routes of advisories.go.
func (s *server) advisoryOperations() []operation {
	location := map[string]string{"Location": "The URL of the advisory"}
	return []operation{
		{Method: "POST", Path: "/api/v1/advisories", ID: "ingestAdvisory", Tag: "Advisories", Allow: engineers,
			Summary: "Ingest a CSAF 2.0 advisory",
			Description: "The body is a CSAF 2.0 JSON document (at most 16 MiB), keyed by its tracking id. A new one is stored (201, ingest created); " +
				"a newer revision of one stored replaces it and keeps its id (201, ingest replaced); the revision already stored answers 200 (ingest unchanged); an older revision is refused (409). " +
				"A document that is not CSAF 2.0 is refused (422) with every problem named and nothing stored. Every refusal is audited.",
			BodyType: "application/json", BodySchema: map[string]any{"type": "object", "description": "A CSAF 2.0 document (https://docs.oasis-open.org/csaf/csaf/v2.0/csaf-v2.0.html)"},
			Answers: []answer{
				{Status: http.StatusCreated, Body: advisoryView{}, Desc: "Stored, or replaced by this newer revision", Headers: location},
				{Status: http.StatusOK, Body: advisoryView{}, Desc: "This revision was stored before; nothing changed", Headers: location},
			},
			Handle: s.ingestAdvisory},
		{Method: "GET", Path: "/api/v1/advisories", ID: "listAdvisories", Tag: "Advisories", Allow: staff,
			Summary:     "List advisories with their CVEs, remedy and how many assets each hits",
			Description: "Most recently released first. A tracking_id that no advisory has answers an empty page.",
			Query: paged(
				qString("tracking_id", "Only the advisory with this tracking id (ICSA-21-350-06, SSA-712929)"),
				qString("publisher", "Only advisories of this publisher, as the document names it")),
			Answers: []answer{ok(page[advisoryView]{})}, Handle: s.listAdvisories},
		{Method: "GET", Path: "/api/v1/advisories/{advisoryID}", ID: "getAdvisory", Tag: "Advisories", Allow: staff,
			Summary:     "Show an advisory with the assets it hits and the patches that fix it",
			Description: "With its products, vulnerabilities, the inventory assets it hits with their remedy, and the qualified patches that implement each vendor fix.",
			Answers:     []answer{ok(advisoryView{})}, Handle: s.getAdvisory},
	}
}
