package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/csaf"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/exploitation"
	"github.com/otpatch/otpatch/internal/store"
)

// Exploitation data and priorities: engineers import CISA's KEV catalog and FIRST's EPSS
// scores (the file, or a URL the server fetches) and say what each zone's conduits reach;
// staff read the current imports and the priority of every (asset, vulnerability) the
// ingested advisories hit, ordered and explained by domain.Prioritize (docs/priorities.md).

func init() {
	enums[reflect.TypeFor[domain.PriorityDecision]()] = func() []string { return stateNames(domain.PriorityDecisionInfo()) }
	enums[reflect.TypeFor[domain.Exploitation]()] = func() []string { return stringsOf(domain.Exploitations()) }
	enums[reflect.TypeFor[domain.Exposure]()] = func() []string { return stringsOf(domain.Exposures()) }
	enums[reflect.TypeFor[domain.Impact]()] = func() []string { return stringsOf(domain.Impacts()) }
	namedEnums["conduit_kind"] = domain.ConduitKinds
	namedEnums["exploitation_source"] = exploitation.Sources
	namedEnums["import_outcome"] = func() []string { return []string{string(store.ImportReplaced), string(store.ImportUnchanged)} }
}

// importAnswer is what an import did, with the import now current.
type importAnswer struct {
	Outcome string                   `json:"outcome" enum:"import_outcome" doc:"imported: this file is now the current data; unchanged: it was imported before and nothing changed"`
	Import  store.ExploitationImport `json:"import"`
}

// fetchRequest names the URL the server fetches a file from.
type fetchRequest struct {
	URL string `json:"url" api:"required" doc:"An https:// URL (at most 2000 characters), verified against the server's trust roots"`
}

// exploitationDoc is the answer of GET /api/v1/exploitation.
type exploitationDoc struct {
	Imports []store.ExploitationImport `json:"imports" doc:"The current import of each source that has one: kev, then epss"`
	// Decisions are the priority decisions with the words and tones to show, most urgent first.
	Decisions []domain.StateInfo `json:"decisions" doc:"The priority decisions, most urgent first, with the word and tone to show"`
}

// importKEV takes a KEV catalog as the body.
func (s *server) importKEV(w http.ResponseWriter, r *http.Request) {
	if !s.jsonBody(w, r, exploitation.SourceKEV) {
		return
	}
	h := sha256.New()
	body := io.TeeReader(http.MaxBytesReader(w, r.Body, exploitation.MaxKEVBytes), h)
	cat, err := exploitation.ParseKEV(body, 0)
	if err == nil {
		_, err = io.Copy(io.Discard, body)
	}
	s.storeKEV(w, r, cat, err, "file", h)
}

// importEPSS takes an EPSS scores file as the body.
func (s *server) importEPSS(w http.ResponseWriter, r *http.Request) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "text/csv" && mt != "application/csv") {
		s.refuseExploitation(w, r, exploitation.SourceEPSS, problem{Status: http.StatusUnsupportedMediaType,
			Detail: "send the EPSS file as text/csv (Content-Type: text/csv), plain or gzipped as FIRST publishes it; nothing was imported"})
		return
	}
	h := sha256.New()
	body := io.TeeReader(http.MaxBytesReader(w, r.Body, exploitation.MaxEPSSBytes), h)
	file, err := exploitation.ParseEPSS(body, 0)
	if err == nil {
		_, err = io.Copy(io.Discard, body)
	}
	s.storeEPSS(w, r, file, err, "file", h)
}

// fetchExploitation fetches the source's file from the URL in the body and imports it.
func (s *server) fetchExploitation(source exploitation.Source) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var in fetchRequest
		if err := decode(w, r, &in); err != nil {
			s.fail(w, r, err)
			return
		}
		if n := utf8.RuneCountInString(in.URL); n > 2000 {
			s.fail(w, r, &domain.ValidationError{What: "request", Fields: []domain.FieldError{{Field: "url", Message: fmt.Sprintf("is %d characters; at most 2000", n)}}})
			return
		}
		limit := int64(exploitation.MaxKEVBytes)
		if source == exploitation.SourceEPSS {
			limit = exploitation.MaxEPSSBytes
		}
		raw, err := exploitation.Fetch(r.Context(), nil, in.URL, limit)
		var v *domain.ValidationError
		var fe *exploitation.FetchError
		switch {
		case errors.As(err, &v):
			s.refuseExploitation(w, r, source, problem{Status: http.StatusUnprocessableEntity, Detail: err.Error() + "; nothing was imported", Errors: v.Fields})
			return
		case errors.As(err, &fe):
			s.refuseExploitation(w, r, source, problem{Status: http.StatusBadGateway, Detail: err.Error()})
			return
		case errors.Is(err, exploitation.ErrTooLarge):
			s.refuseExploitation(w, r, source, problem{Status: http.StatusRequestEntityTooLarge, Detail: err.Error() + "; nothing was imported"})
			return
		case err != nil:
			s.fail(w, r, err)
			return
		}
		h := sha256.New()
		h.Write(raw)
		origin := in.URL
		if source == exploitation.SourceKEV {
			cat, err := exploitation.ParseKEV(bytes.NewReader(raw), 0)
			s.storeKEV(w, r, cat, err, origin, h)
			return
		}
		file, err := exploitation.ParseEPSS(bytes.NewReader(raw), 0)
		s.storeEPSS(w, r, file, err, origin, h)
	}
}

// jsonBody refuses a body that is not JSON (415); it reports whether the body may be read.
func (s *server) jsonBody(w http.ResponseWriter, r *http.Request, source exploitation.Source) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil && mt == "application/json" {
		return true
	}
	s.refuseExploitation(w, r, source, problem{Status: http.StatusUnsupportedMediaType,
		Detail: "send the KEV catalog as application/json (Content-Type: application/json); nothing was imported"})
	return false
}

func (s *server) storeKEV(w http.ResponseWriter, r *http.Request, cat *exploitation.KEVCatalog, err error, origin string, h hash.Hash) {
	if !s.parsed(w, r, exploitation.SourceKEV, err) {
		return
	}
	entries := make([]store.KEVEntry, len(cat.Entries))
	for i, e := range cat.Entries {
		cwes := e.CWEs
		if cwes == nil {
			cwes = []string{}
		}
		entries[i] = store.KEVEntry{CVEID: e.CVEID, VendorProject: e.VendorProject, Product: e.Product, VulnerabilityName: e.VulnerabilityName,
			DateAdded: e.DateAdded, ShortDescription: e.ShortDescription, RequiredAction: e.RequiredAction, DueDate: e.DueDate,
			Ransomware: e.KnownRansomwareCampaignUse, Notes: e.Notes, CWEs: cwes}
	}
	imp := store.ExploitationImport{Version: cat.CatalogVersion, ReleasedAt: cat.DateReleased, Origin: origin, SHA256: hex.EncodeToString(h.Sum(nil))}
	ev := event(r, "exploitation.kev_imported")
	ev.Details = map[string]any{"title": cat.Title}
	out, err := s.Store.ImportKEV(r.Context(), &imp, entries, ev)
	s.imported(w, r, exploitation.SourceKEV, imp, out, err)
}

func (s *server) storeEPSS(w http.ResponseWriter, r *http.Request, file *exploitation.EPSSFile, err error, origin string, h hash.Hash) {
	if !s.parsed(w, r, exploitation.SourceEPSS, err) {
		return
	}
	scores := make([]store.EPSSScore, len(file.Scores))
	for i, sc := range file.Scores {
		scores[i] = store.EPSSScore(sc)
	}
	imp := store.ExploitationImport{Version: file.ModelVersion, ReleasedAt: file.ScoreDate, Origin: origin, SHA256: hex.EncodeToString(h.Sum(nil))}
	out, err := s.Store.ImportEPSS(r.Context(), &imp, scores, event(r, "exploitation.epss_imported"))
	s.imported(w, r, exploitation.SourceEPSS, imp, out, err)
}

// parsed answers a file that could not be read or is not valid (and audits the refusal); it
// reports whether the file may be stored.
func (s *server) parsed(w http.ResponseWriter, r *http.Request, source exploitation.Source, err error) bool {
	var v *domain.ValidationError
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &mbe):
		s.refuseExploitation(w, r, source, problem{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("the file is larger than the limit of %d bytes; nothing was imported", mbe.Limit)})
	case errors.Is(err, exploitation.ErrTooLarge):
		s.refuseExploitation(w, r, source, problem{Status: http.StatusRequestEntityTooLarge, Detail: err.Error() + "; nothing was imported"})
	case errors.As(err, &v):
		s.refuseExploitation(w, r, source, problem{Status: http.StatusUnprocessableEntity, Detail: err.Error() + "; nothing was imported", Errors: v.Fields})
	default:
		s.refuseExploitation(w, r, source, problem{Status: http.StatusBadRequest, Detail: "the upload broke off: " + err.Error() + "; nothing was imported, send it again"})
	}
	return false
}

func (s *server) imported(w http.ResponseWriter, r *http.Request, source exploitation.Source, imp store.ExploitationImport, out store.ImportOutcome, err error) {
	if errors.Is(err, store.ErrConflict) {
		s.refuseExploitation(w, r, source, problem{Status: http.StatusConflict, Detail: err.Error()})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if out == store.ImportUnchanged {
		status = http.StatusOK
	}
	locateCreated(w, "exploitation")
	writeJSON(w, status, importAnswer{Outcome: string(out), Import: imp})
}

// refuseExploitation answers a refused import and records it in the audit trail.
func (s *server) refuseExploitation(w http.ResponseWriter, r *http.Request, source exploitation.Source, p problem) {
	ev := event(r, "exploitation.import_refused")
	ev.SubjectType, ev.SubjectID = "exploitation_import", r.Method+" "+r.URL.Path
	logged := p.Errors
	if len(logged) > 20 {
		logged = logged[:20]
	}
	ev.Details = map[string]any{"source": string(source), "status": p.Status, "reason": p.Detail, "errors": logged}
	if _, err := s.Store.Append(context.WithoutCancel(r.Context()), ev); err != nil {
		s.Logger.Error("audit append failed", "err", err, "request_id", requestID(r))
	}
	writeProblem(w, r, p)
}

func (s *server) getExploitation(w http.ResponseWriter, r *http.Request) {
	imps, err := s.Store.CurrentImports(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, exploitationDoc{Imports: imps, Decisions: domain.PriorityDecisionInfo()})
}

// Conduits.

// maxConduits bounds the conduits of one zone.
const maxConduits = 50

type conduitsRequest struct {
	Conduits []store.Conduit `json:"conduits" api:"required" doc:"Every conduit of the zone (at most 50); an empty list says the zone has none"`
}

// conduitsDoc is a zone's conduits and whether they expose it.
type conduitsDoc struct {
	ZoneID   string          `json:"zone_id"`
	SLT      int             `json:"sl_t"`
	Exposed  bool            `json:"exposed" doc:"A conduit reaches an outside network or a zone of a lower SL-T"`
	Conduits []store.Conduit `json:"conduits"`
}

func (s *server) conduitsOf(ctx context.Context, zoneID string) (conduitsDoc, error) {
	z, err := s.Store.Zone(ctx, zoneID)
	if err != nil {
		return conduitsDoc{}, err
	}
	zones, err := s.Store.Zones(ctx)
	if err != nil {
		return conduitsDoc{}, err
	}
	all, err := s.Store.ZoneConduits(ctx)
	if err != nil {
		return conduitsDoc{}, err
	}
	cs := all[zoneID]
	if cs == nil {
		cs = []store.Conduit{}
	}
	byID := zonesByID(zones)
	return conduitsDoc{ZoneID: z.ID, SLT: z.SLT, Conduits: cs, Exposed: exposed(z, cs, byID)}, nil
}

// zoneWithConduits is one zone as GET /api/v1/zones/{zoneID} shows it: with its conduits.
type zoneWithConduits struct {
	store.Zone
	Conduits []store.Conduit `json:"conduits" doc:"What the zone's conduits reach (PUT /api/v1/zones/{zoneID}/conduits)"`
	Exposed  bool            `json:"exposed" doc:"A conduit reaches an outside network or a zone of a lower SL-T"`
}

func (s *server) zoneAnswer(ctx context.Context, zoneID string) (zoneWithConduits, error) {
	z, err := s.Store.Zone(ctx, zoneID)
	if err != nil {
		return zoneWithConduits{}, err
	}
	c, err := s.conduitsOf(ctx, zoneID)
	if err != nil {
		return zoneWithConduits{}, err
	}
	return zoneWithConduits{Zone: z, Conduits: c.Conduits, Exposed: c.Exposed}, nil
}

func zonesByID(zones []store.Zone) map[string]store.Zone {
	out := make(map[string]store.Zone, len(zones))
	for _, z := range zones {
		out[z.ID] = z
	}
	return out
}

// reaches are a zone's conduits as domain.Prioritize reads them.
func reaches(cs []store.Conduit, zones map[string]store.Zone) []domain.Reach {
	out := make([]domain.Reach, 0, len(cs))
	for _, c := range cs {
		rc := domain.Reach{Kind: c.Kind}
		if c.Kind == domain.ConduitZone {
			t := zones[c.TargetZoneID]
			rc.ZoneName, rc.ZoneSLT = t.Name, t.SLT
		}
		out = append(out, rc)
	}
	return out
}

func exposed(z store.Zone, cs []store.Conduit, zones map[string]store.Zone) bool {
	p := domain.Prioritize(domain.PriorityInput{ZoneName: z.Name, ZoneSLT: z.SLT, Conduits: reaches(cs, zones)})
	return p.Exposure != domain.ExposureSmall
}

func (s *server) getConduits(w http.ResponseWriter, r *http.Request) {
	doc, err := s.conduitsOf(r.Context(), chi.URLParam(r, "zoneID"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

func (s *server) setConduits(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	zoneID := chi.URLParam(r, "zoneID")
	before, err := s.conduitsOf(ctx, zoneID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in conduitsRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	zones, err := s.Store.Zones(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	byID := zonesByID(zones)
	v := &domain.ValidationError{What: "conduits"}
	if len(in.Conduits) > maxConduits {
		v.Add("conduits", "lists %d conduits; at most %d", len(in.Conduits), maxConduits)
	}
	seen := map[string]int{}
	for i, c := range in.Conduits {
		at := func(f string) string { return fmt.Sprintf("conduits[%d].%s", i, f) }
		switch {
		case !slices.Contains(domain.ConduitKinds(), c.Kind):
			v.Add(at("kind"), "must be zone, enterprise, remote_access, internet or vendor, got %q", c.Kind)
		case c.Kind == domain.ConduitZone && c.TargetZoneID == "":
			v.Add(at("zone_id"), "is required for a conduit to another zone")
		case c.Kind == domain.ConduitZone && c.TargetZoneID == zoneID:
			v.Add(at("zone_id"), "is this zone; a conduit reaches another zone")
		case c.Kind == domain.ConduitZone && byID[c.TargetZoneID].ID == "":
			v.Add(at("zone_id"), "%q is no zone of the inventory", c.TargetZoneID)
		case c.Kind != domain.ConduitZone && c.TargetZoneID != "":
			v.Add(at("zone_id"), "is only for a conduit to another zone; leave it out for %s", c.Kind)
		}
		if msg := domain.TextFault(c.Description, 500); msg != "" && c.Description != "" {
			v.Add(at("description"), "%s", msg)
		}
		key := c.Kind + "\x00" + c.TargetZoneID
		if j, dup := seen[key]; dup {
			v.Add(at("kind"), "the same conduit as conduits[%d]", j)
		}
		seen[key] = i
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := event(r, "zone.conduits_set")
	ev.Details = map[string]any{"previous": before.Conduits, "conduits": in.Conduits}
	if err := s.Store.SetZoneConduits(ctx, zoneID, in.Conduits, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	s.getConduits(w, r)
}

// Priorities.

// priorityRow is the priority of one (asset, vulnerability).
type priorityRow struct {
	Rank         int                     `json:"rank" doc:"The row's place in the whole ordered list, with the filters applied (1 is the most urgent)"`
	Decision     domain.PriorityDecision `json:"decision"`
	Points       int                     `json:"points" doc:"0 to 105: orders the rows within a decision, more first"`
	CVE          string                  `json:"cve"`
	AssetID      string                  `json:"asset_id"`
	AssetName    string                  `json:"asset_name"`
	ZoneID       string                  `json:"zone_id"`
	ZoneName     string                  `json:"zone_name"`
	SiteID       string                  `json:"site_id"`
	AdvisoryID   string                  `json:"advisory_id" doc:"The advisory that names the CVE for the asset (of several, the one with the highest CVSS)"`
	TrackingID   string                  `json:"tracking_id"`
	CVSS         float64                 `json:"cvss"`
	EPSS         *store.EPSSScore        `json:"epss" doc:"The CVE's current EPSS score; null when the current import has none"`
	KEV          *kevSummary             `json:"kev" doc:"The CVE's entry in the current KEV catalog; null when it is not listed"`
	Exploitation domain.Exploitation     `json:"exploitation" doc:"active (in KEV), likely (EPSS) or none"`
	Exposure     domain.Exposure         `json:"exposure" doc:"open, controlled or small: what the zone's conduits reach"`
	Impact       domain.Impact           `json:"impact" doc:"high, medium or low: the asset's criticality, safety role and zone SL-T"`
	Patch        *patchLink              `json:"patch" doc:"The qualified patch that fixes the asset; null when there is none"`
	Factors      []domain.Factor         `json:"factors" doc:"Why this rank: each reason with the points it adds"`
	Plant        *plantDecision          `json:"plant_decision" doc:"The plant's current decision on the advisory for this asset (patch, mitigate, accept); null when none is recorded. An asset the plant states not affected has no row"`

	key string
}

// plantDecision is the decision on a row's advisory that covers its asset (decisions.go).
type plantDecision struct {
	ID    string `json:"id"`
	Kind  string `json:"kind" enum:"decision_kind"`
	State string `json:"state" enum:"decision_state"`
}

type kevSummary struct {
	DateAdded      string `json:"date_added"`
	DueDate        string `json:"due_date"`
	Ransomware     bool   `json:"ransomware" doc:"CISA knows the CVE used in ransomware campaigns"`
	RequiredAction string `json:"required_action"`
}

// priorities computes every row, ordered, for the advisories matched against today's inventory.
func (s *server) priorities(ctx context.Context) ([]priorityRow, error) {
	inv, err := s.advisoryInventory(ctx, true)
	if err != nil {
		return nil, err
	}
	advs, err := s.Store.Advisories(ctx)
	if err != nil {
		return nil, err
	}
	zones, err := s.Store.Zones(ctx)
	if err != nil {
		return nil, err
	}
	byZone := zonesByID(zones)
	conduits, err := s.Store.ZoneConduits(ctx)
	if err != nil {
		return nil, err
	}
	type hit struct {
		cve, assetID, advID, tracking string
		cvss                          float64
		patch                         *patchLink
		mitigate                      bool
	}
	hits := map[string]hit{}
	var cves []string
	for _, a := range advs {
		var adv csaf.Advisory
		if err := json.Unmarshal([]byte(a.Summary), &adv); err != nil {
			continue // an advisory without a readable summary hits no known asset
		}
		for _, h := range csaf.Match(&adv, inv.products, inv.assets) {
			var patch *patchLink
			if h.Remedy.Kind == csaf.RemedyUpdate {
				if ps := inv.patchesFor([]string{h.ProductID}, h.Remedy.FixedVersion); len(ps) > 0 {
					patch = &ps[0]
				}
			}
			for _, v := range adv.Vulnerabilities {
				if v.CVE == "" || !slices.ContainsFunc(v.Affected, func(id string) bool { return slices.Contains(h.CSAFProductIDs, id) }) {
					continue
				}
				k := v.CVE + "\x00" + h.AssetID
				old, seen := hits[k]
				if seen && (old.cvss > v.CVSS || (old.cvss == v.CVSS && old.advID < a.ID)) {
					continue
				}
				if !seen {
					cves = append(cves, v.CVE)
				}
				hits[k] = hit{cve: v.CVE, assetID: h.AssetID, advID: a.ID, tracking: a.TrackingID, cvss: v.CVSS, patch: patch, mitigate: h.Remedy.Kind == csaf.RemedyMitigate}
			}
		}
	}
	kev, epss, err := s.Store.Exploitation(ctx, cves)
	if err != nil {
		return nil, err
	}
	decided := map[string]map[string]store.Decision{} // advisory → asset → its current decision
	for _, h := range hits {
		if _, ok := decided[h.advID]; !ok {
			if decided[h.advID], err = s.Store.CurrentDecisions(ctx, h.advID); err != nil {
				return nil, err
			}
		}
	}
	rows := make([]priorityRow, 0, len(hits))
	for _, h := range hits {
		var plant *plantDecision
		if d, ok := decided[h.advID][h.assetID]; ok {
			if d.Kind == string(domain.DecisionNotAffected) && domain.DecisionState(d.State).Counts() {
				continue // the plant states the asset not affected (a CSAF VEX justification)
			}
			plant = &plantDecision{ID: d.ID, Kind: d.Kind, State: d.State}
		}
		as := inv.byID[h.assetID]
		z := byZone[as.ZoneID]
		in := domain.PriorityInput{CVE: h.cve, AssetID: as.ID, CVSS: h.cvss, ZoneName: z.Name, ZoneSLT: z.SLT,
			Conduits: reaches(conduits[z.ID], byZone), Criticality: as.Criticality, SafetyRole: as.SafetyCritical, RemedyMitigationsOnly: h.mitigate}
		row := priorityRow{CVE: h.cve, AssetID: as.ID, AssetName: as.Name, ZoneID: z.ID, ZoneName: z.Name, SiteID: z.SiteID, AdvisoryID: h.advID, TrackingID: h.tracking,
			CVSS: h.cvss, Patch: h.patch, Plant: plant}
		if e, ok := epss[h.cve]; ok {
			in.HasEPSS, in.EPSS, in.EPSSPercentile = true, e.EPSS, e.Percentile
			row.EPSS = &e
		}
		if k, ok := kev[h.cve]; ok {
			in.InKEV, in.KEVDateAdded, in.KEVDueDate, in.KEVRansomware = true, k.DateAdded, k.DueDate, k.Ransomware == "Known"
			row.KEV = &kevSummary{DateAdded: k.DateAdded, DueDate: k.DueDate, Ransomware: k.Ransomware == "Known", RequiredAction: k.RequiredAction}
		}
		if h.patch != nil {
			in.QualifiedPatch = h.patch.PatchRef + " " + h.patch.Version
		}
		p := domain.Prioritize(in)
		row.Decision, row.Points, row.Exploitation, row.Exposure, row.Impact, row.Factors = p.Decision, p.Points, p.Exploitation, p.Exposure, p.Impact, p.Factors
		row.key = domain.PriorityKey(in, p)
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b priorityRow) int { return strings.Compare(a.key, b.key) })
	return rows, nil
}

func (s *server) listPriorities(w http.ResponseWriter, r *http.Request) {
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	q := r.URL.Query()
	decision, zoneID, assetID, cve := q.Get("decision"), q.Get("zone_id"), q.Get("asset_id"), q.Get("cve")
	if decision != "" && domain.PriorityDecision(decision).Urgency() > 3 {
		v.Add("decision", "must be act, attend, track* or track, got %q", decision)
	}
	if cve != "" && !exploitation.ValidCVE(cve) {
		v.Add("cve", "must be a CVE id (CVE-2024-12345), got %q", cve)
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	rows, err := s.priorities(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	kept := rows[:0]
	for _, row := range rows {
		if (decision == "" || string(row.Decision) == decision) && (zoneID == "" || row.ZoneID == zoneID) &&
			(assetID == "" || row.AssetID == assetID) && (cve == "" || row.CVE == cve) {
			row.Rank = len(kept) + 1
			kept = append(kept, row)
		}
	}
	writeJSON(w, http.StatusOK, pageOf(kept, func(p priorityRow) string { return p.key }, pr))
}

// priorityOperations are the routes of priorities.go.
func (s *server) priorityOperations() []operation {
	imported := []answer{
		{Status: http.StatusCreated, Body: importAnswer{}, Desc: "Imported: this file is now the current data", Headers: map[string]string{"Location": "GET /api/v1/exploitation"}},
		{Status: http.StatusOK, Body: importAnswer{}, Desc: "This release was imported before; nothing changed", Headers: map[string]string{"Location": "GET /api/v1/exploitation"}},
	}
	rules := "A release newer than the current one replaces it (201, outcome imported); the same release (date and version) changes nothing (200, outcome unchanged); " +
		"an older release, or another version of the same date, is refused (409) and the current data kept. A file that is not valid is refused (422) naming up to 20 faults, nothing imported. Every refusal is audited."
	return []operation{
		{Method: "POST", Path: "/api/v1/exploitation/kev", ID: "importKEV", Tag: "Exploitation", Allow: engineers,
			Summary: "Import CISA's Known Exploited Vulnerabilities catalog from a file",
			Description: fmt.Sprintf("The body is the catalog as CISA publishes it (known_exploited_vulnerabilities.json: title, catalogVersion, dateReleased, count, vulnerabilities), as application/json, "+
				"at most %d MiB and %d entries (413, 422 beyond); its catalogVersion and dateReleased date the import. %s To have the server download it, use POST /api/v1/exploitation/kev/fetch.",
				exploitation.MaxKEVBytes>>20, exploitation.MaxKEVEntries, rules),
			BodyType: "application/json", BodySchema: map[string]any{"type": "object", "description": "A KEV catalog (https://www.cisa.gov/known-exploited-vulnerabilities-catalog)"},
			Answers: imported, Handle: s.importKEV},
		{Method: "POST", Path: "/api/v1/exploitation/kev/fetch", ID: "fetchKEV", Tag: "Exploitation", Allow: engineers,
			Summary: "Import CISA's KEV catalog from a URL the server downloads",
			Description: "The server downloads the catalog from the https:// URL (its trust roots are the system's; at most 2 minutes) and imports it as POST /api/v1/exploitation/kev does, with the URL as its origin. " +
				"A URL that is not https is refused (422); a download that fails answers 502 with the reason: import the file instead where the URL is not reachable.",
			Body: fetchRequest{}, Answers: imported, Handle: s.fetchExploitation(exploitation.SourceKEV)},
		{Method: "POST", Path: "/api/v1/exploitation/epss", ID: "importEPSS", Tag: "Exploitation", Allow: engineers,
			Summary: "Import FIRST's EPSS scores from a file",
			Description: fmt.Sprintf("The body is the scores file as FIRST publishes it (epss_scores-YYYY-MM-DD.csv: the line #model_version:…,score_date:…, the header cve,epss,percentile, one row per CVE), "+
				"as text/csv, plain or gzipped (told from its first bytes), at most %d MiB and %d rows (413, 422 beyond); its model_version and score_date date the import. %s "+
				"To have the server download it, use POST /api/v1/exploitation/epss/fetch.", exploitation.MaxEPSSBytes>>20, exploitation.MaxEPSSRows, rules),
			BodyType: "text/csv", BodySchema: map[string]any{"type": "string", "description": "An EPSS scores file, plain or gzipped"},
			Answers: imported, Handle: s.importEPSS},
		{Method: "POST", Path: "/api/v1/exploitation/epss/fetch", ID: "fetchEPSS", Tag: "Exploitation", Allow: engineers,
			Summary: "Import FIRST's EPSS scores from a URL the server downloads",
			Description: "The server downloads the scores (plain or gzipped, as https://epss.empiricalsecurity.com/epss_scores-current.csv.gz serves them) from the https:// URL and imports them as POST /api/v1/exploitation/epss does. " +
				"A URL that is not https is refused (422); a download that fails answers 502 with the reason: import the file instead where the URL is not reachable.",
			Body: fetchRequest{}, Answers: imported, Handle: s.fetchExploitation(exploitation.SourceEPSS)},
		{Method: "GET", Path: "/api/v1/exploitation", ID: "getExploitation", Tag: "Exploitation", Allow: staff,
			Summary:     "Show the current KEV and EPSS imports with their dates and counts",
			Description: "The current import of each source (what priorities are computed with): its version and release date, how many CVEs, where it came from and who imported it when.",
			Answers:     []answer{ok(exploitationDoc{})}, Handle: s.getExploitation},
		{Method: "GET", Path: "/api/v1/priorities", ID: "listPriorities", Tag: "Exploitation", Allow: staff,
			Summary: "List every (asset, vulnerability) the ingested advisories hit, most urgent first, with why",
			Description: "Each CVE an ingested advisory names for an inventory asset gets a decision (act, attend, track*, track) and points from its CVSS, EPSS score, KEV listing and ransomware use, " +
				"the zone's SL-T and conduits, the asset's criticality and safety role, and whether a qualified patch fixes it; the rule is documented in docs/priorities.md. " +
				"Ordered by decision, then points, CVSS, EPSS, CVE and asset id. Filters narrow the list (rank counts within it); a zone_id or asset_id of nothing answers an empty page; a decision or cve that is not one is refused (422).",
			Query: paged(
				qEnum("decision", "Only rows of this decision", stateNames(domain.PriorityDecisionInfo())...),
				qString("zone_id", "Only assets of this zone"),
				qString("asset_id", "Only this asset"),
				qString("cve", "Only this CVE (CVE-2024-12345)")),
			Answers: []answer{ok(page[priorityRow]{})}, Handle: s.listPriorities},
		{Method: "GET", Path: "/api/v1/zones/{zoneID}/conduits", ID: "getZoneConduits", Tag: "Inventory", Allow: staff,
			Summary:     "Show what a zone's conduits reach, and whether that exposes it",
			Description: "A zone is exposed when a conduit reaches an outside network (enterprise, remote_access, internet, vendor) or a zone of a lower SL-T.",
			Answers:     []answer{ok(conduitsDoc{})}, Handle: s.getConduits},
		{Method: "PUT", Path: "/api/v1/zones/{zoneID}/conduits", ID: "setZoneConduits", Tag: "Inventory", Allow: engineers,
			Summary: "Replace a zone's conduits",
			Description: "The list replaces the zone's conduits (an empty list: none). Each reaches another zone (kind zone with its zone_id) or an outside network by kind. " +
				"An unknown kind or zone, a conduit to the zone itself, the same conduit twice or more than 50 are refused (422) naming each; the change is audited (zone.conduits_set) with the previous list.",
			Body: conduitsRequest{}, Answers: []answer{ok(conduitsDoc{})}, Handle: s.setConduits},
	}
}
