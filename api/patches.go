package api

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/workflows"
)

// patchFacts is what every reader of a patch may see: the patch, its manifest and artifacts,
// and why it was rejected.
type patchFacts struct {
	store.Patch
	Manifest  *domain.Manifest      `json:"manifest,omitempty"`
	Artifacts []store.PatchArtifact `json:"artifacts"`
	Reasons   []string              `json:"reasons"`
}

// patchView is a patch as staff read it.
type patchView struct {
	patchFacts
	Applicable []string        `json:"applicable_assets"`
	Report     json.RawMessage `json:"qualification_report,omitempty"`
	// ApplicabilityNow is the patch evaluated against every asset of its product as it runs
	// now (the qualification report is the record of qualification time). Staff only.
	ApplicabilityNow []liveAsset `json:"applicability_now,omitempty"`
	// Qualifications are the asset owner's current qualification entries of the patch per
	// product release (qualification.go). Staff only.
	Qualifications []store.QualificationEntry `json:"qualifications,omitempty" doc:"The asset owner's current qualification of the patch per product release, by its id or patch_ref (staff only)"`
}

func (s *server) patchView(ctx context.Context, p store.Patch) (patchView, error) {
	v := patchView{patchFacts: patchFacts{Patch: p}}
	v.Manifest, _ = store.ManifestOf(p)
	arts, err := s.Store.PatchArtifacts(ctx, p.ID)
	if err != nil {
		return v, err
	}
	v.Artifacts = arts
	if p.Report != "" && p.Report != "{}" {
		v.Report = json.RawMessage(p.Report)
	}
	_ = json.Unmarshal([]byte(p.Reasons), &v.Reasons)
	_ = json.Unmarshal([]byte(p.Applicable), &v.Applicable)
	if v.Reasons == nil {
		v.Reasons = []string{}
	}
	if v.Applicable == nil {
		v.Applicable = []string{}
	}
	return v, nil
}

// vendorPatchView is a patch as its vendor reads it. What the plant runs is the asset owner's
// (OWASP API3:2023): the vendor learns how many assets run each of its product versions the
// patch applies to, and the CVEs and CVSS of its own patch; never asset ids or names, zones,
// SL-T, criticality or safety data.
type vendorPatchView struct {
	patchFacts
	// ApplicableByVersion counts, at qualification, the assets the patch applies to by the
	// product version they ran, with the vendor's compatibility statement for that version.
	ApplicableByVersion []versionCount `json:"applicable_by_version"`
	// ExcludedByVersion counts the assets left out because the vendor says not_qualified.
	ExcludedByVersion []versionCount `json:"excluded_by_version,omitempty"`
	// Risk is the part of the qualification report's risk summary about the patch itself.
	Risk *patchRisk `json:"risk,omitempty"`
}

// versionCount is how many assets ran one product version.
type versionCount struct {
	ProductVersion string `json:"product_version"`
	Assets         int    `json:"assets"`
	Compatibility  string `json:"compatibility"`
}

// patchRisk is what the patch fixes.
type patchRisk struct {
	MaxCVSS float64  `json:"max_cvss"`
	CVEs    []string `json:"cves"`
}

// forVendor shapes the view for the patch's vendor from the qualification report.
func (v patchView) forVendor() vendorPatchView {
	out := vendorPatchView{patchFacts: v.patchFacts, ApplicableByVersion: []versionCount{}}
	if v.Report == nil {
		return out
	}
	type reportAsset struct {
		Version       string `json:"installed_version"`
		Compatibility string `json:"compatibility"`
	}
	var rep struct {
		Applicable   []reportAsset `json:"applicable"`
		NotQualified []reportAsset `json:"excluded_not_qualified"`
		Risk         patchRisk     `json:"risk"`
	}
	if err := json.Unmarshal(v.Report, &rep); err != nil {
		return out
	}
	count := func(assets []reportAsset) []versionCount {
		counts := []versionCount{}
		for _, a := range assets {
			i := slices.IndexFunc(counts, func(c versionCount) bool {
				return c.ProductVersion == a.Version && c.Compatibility == a.Compatibility
			})
			if i < 0 {
				i = len(counts)
				counts = append(counts, versionCount{ProductVersion: a.Version, Compatibility: a.Compatibility})
			}
			counts[i].Assets++
		}
		slices.SortFunc(counts, func(a, b versionCount) int {
			return cmp.Or(domain.CompareVersions(a.ProductVersion, b.ProductVersion), strings.Compare(a.Compatibility, b.Compatibility))
		})
		return counts
	}
	out.ApplicableByVersion, out.ExcludedByVersion = count(rep.Applicable), count(rep.NotQualified)
	if rep.Risk.CVEs == nil {
		rep.Risk.CVEs = []string{}
	}
	out.Risk = &rep.Risk
	return out
}

// patchDoc is a patch as its reader may see it: patchView for staff, vendorPatchView for the
// patch's vendor.
type patchDoc struct{ v any }

func (d patchDoc) MarshalJSON() ([]byte, error) { return json.Marshal(filled(d.v)) }

func (patchDoc) alternatives() []any { return []any{patchView{}, vendorPatchView{}} }

// shapedFor is the view of the patch the request's actor may read: the full view for staff,
// vendorPatchView for a vendor.
func shapedFor(r *http.Request, v patchView) patchDoc {
	if actorOf(r).Role == domain.RoleVendor {
		return patchDoc{v.forVendor()}
	}
	return patchDoc{v}
}

// submission is one patch upload being received; refuse undoes what it stored.
type submission struct {
	s        *server
	w        http.ResponseWriter
	r        *http.Request
	details  map[string]any
	patchID  string
	stored   []string
	refused  bool
	manifest *domain.Manifest
}

func (sub *submission) refuse(status int, detail string, fields []domain.FieldError) {
	sub.refused = true
	sub.cleanup()
	ev := event(sub.r, "patch.submit_refused")
	ev.SubjectType, ev.SubjectID = "patch_submission", sub.patchID
	sub.details["reason"] = detail
	sub.details["status"] = status
	sub.details["vendor_id"] = actorOf(sub.r).VendorID // whose submission it was: the supplier scorecard counts it
	ev.Details = sub.details
	if _, err := sub.s.Store.Append(context.WithoutCancel(sub.r.Context()), ev); err != nil {
		sub.s.Logger.Error("audit append failed", "err", err)
	}
	writeProblem(sub.w, sub.r, problem{Status: status, Detail: detail, Errors: fields})
}

func (sub *submission) cleanup() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(sub.r.Context()), 30*time.Second)
	defer cancel()
	for _, key := range sub.stored {
		if err := sub.s.Objects.Remove(ctx, key); err != nil {
			sub.s.Logger.Error("remove refused artifact", "key", key, "err", err)
		}
	}
	sub.stored = nil
}

// submitPatch takes multipart/form-data: a "manifest" part (the signed JSON bytes), a
// "signature" part (base64 ed25519 over those bytes), then one "artifact" part per manifest
// artifact, named by its file name. Artifacts stream into the object store; nothing is kept
// unless everything verifies.
func (s *server) submitPatch(w http.ResponseWriter, r *http.Request) {
	actor := actorOf(r)
	sub := &submission{s: s, w: w, r: r, details: map[string]any{}, patchID: store.NewID("pat")}
	idemKey := r.Header.Get("Idempotency-Key")
	if idemKey != "" {
		if len(idemKey) > 128 || strings.ContainsFunc(idemKey, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
			sub.refuse(http.StatusBadRequest, "Idempotency-Key must be 1 to 128 printable ASCII characters without spaces", nil)
			return
		}
		status, body, ok, err := s.Store.IdempotentResponse(r.Context(), actor.Name, idemKey)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if ok {
			// A retry of a submission that succeeded: the first answer, not a duplicate.
			var first struct {
				ID string `json:"id"`
			}
			if json.Unmarshal([]byte(body), &first) == nil && first.ID != "" {
				locateCreated(w, "patches", first.ID)
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Idempotent-Replayed", "true")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.MaxArtifactBytes+domain.MaxManifestBytes+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		sub.refuse(http.StatusUnsupportedMediaType, "send multipart/form-data with the parts manifest, signature and one artifact part per manifest artifact", nil)
		return
	}
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "manifest" {
		sub.refuse(http.StatusBadRequest, "the first part must be \"manifest\": the manifest JSON exactly as signed", nil)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(part, domain.MaxManifestBytes+1))
	if err != nil {
		sub.refuse(http.StatusBadRequest, "reading the manifest part: "+err.Error(), nil)
		return
	}
	part, err = mr.NextPart()
	if err != nil || part.FormName() != "signature" {
		sub.refuse(http.StatusBadRequest, "the second part must be \"signature\": the base64 ed25519 signature of the manifest bytes", nil)
		return
	}
	sigText, err := io.ReadAll(io.LimitReader(part, 1024))
	if err != nil {
		sub.refuse(http.StatusBadRequest, "reading the signature part: "+err.Error(), nil)
		return
	}
	adm, ok := sub.admit(raw, string(sigText), s.MaxArtifactBytes)
	if !ok {
		return
	}
	arts, ok := sub.receiveArtifacts(mr)
	if !ok {
		return
	}
	sub.accept(adm, arts, idemKey)
}

// admission is a manifest whose signature, vendor, product and version passed.
type admission struct {
	raw         []byte
	sha256      string
	signature   string
	fingerprint string
	manifest    *domain.Manifest
	vendor      store.Vendor
	product     store.Product
}

// admit runs every check that needs no artifact byte: the manifest parses and validates, it
// is the caller's vendor's, declares no more than maxBytes, carries a signature by a trusted
// key, names a catalogue product, is not a duplicate and not a rollback. A refusal is
// answered and audited; ok is false then.
func (sub *submission) admit(raw []byte, sigText string, maxBytes int64) (*admission, bool) {
	s, r, w := sub.s, sub.r, sub.w
	sum := sha256.Sum256(raw)
	adm := &admission{raw: raw, sha256: hex.EncodeToString(sum[:]), signature: strings.TrimSpace(sigText)}
	sub.details["manifest_sha256"] = adm.sha256
	m, err := domain.ParseManifest(raw)
	if err != nil {
		var v *domain.ValidationError
		errors.As(err, &v)
		sub.refuse(http.StatusUnprocessableEntity, err.Error(), v.Fields)
		return nil, false
	}
	sub.manifest, adm.manifest = m, m
	var declared int64
	for _, a := range m.Artifacts {
		declared += a.Size
	}
	if declared > maxBytes {
		sub.refuse(http.StatusRequestEntityTooLarge, fmt.Sprintf("the manifest declares %d bytes of artifacts, larger than the limit of %d bytes; nothing was stored (large artifacts go through POST /api/v1/patches/uploads)", declared, maxBytes), nil)
		return nil, false
	}
	sub.details["patch_ref"], sub.details["version"], sub.details["product"] = m.PatchID, m.Version, m.Product
	vendor, err := s.Store.Vendor(r.Context(), actorOf(r).VendorID)
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	adm.vendor = vendor
	if m.Vendor != vendor.Name {
		sub.refuse(http.StatusForbidden, fmt.Sprintf("this token submits for vendor %q; the manifest names vendor %q", vendor.Name, m.Vendor), nil)
		return nil, false
	}
	keys, err := s.Store.TrustedKeys(r.Context(), vendor.ID)
	if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	adm.fingerprint, err = signing.VerifyTrusted(keys, raw, sigText, s.Store.Now())
	if err != nil {
		sub.refuse(http.StatusUnprocessableEntity, "signature refused: "+err.Error(), []domain.FieldError{{Field: "signature", Message: err.Error()}})
		return nil, false
	}
	adm.product, err = s.Store.ProductByName(r.Context(), vendor.ID, m.Product)
	if errors.Is(err, store.ErrNotFound) {
		sub.refuse(http.StatusUnprocessableEntity, fmt.Sprintf("product %q of vendor %s is not in the asset owner's catalogue; ask the asset owner to add it", m.Product, vendor.Name),
			[]domain.FieldError{{Field: "product", Message: "not in the catalogue"}})
		return nil, false
	} else if err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	if dup, err := s.Store.PatchExists(r.Context(), vendor.ID, m.PatchID, m.Version); err != nil {
		s.fail(w, r, err)
		return nil, false
	} else if dup {
		sub.refuse(http.StatusConflict, fmt.Sprintf("patch %s version %s was submitted before; a new submission needs a new version", m.PatchID, m.Version), nil)
		return nil, false
	}
	if len(m.Supersedes) > 0 {
		newest, err := s.Store.NewestPatchVersion(r.Context(), vendor.ID, adm.product.ID)
		if err != nil {
			s.fail(w, r, err)
			return nil, false
		}
		if newest != "" && domain.CompareVersions(m.Version, newest) <= 0 {
			sub.refuse(http.StatusConflict, fmt.Sprintf("version %s is not newer than %s, already accepted for %s: a patch that supersedes others must be newer (rollback protection); an independent hotfix that supersedes nothing may carry an older version", m.Version, newest, m.Product), nil)
			return nil, false
		}
	}
	return adm, true
}

// accept stores the admitted patch with its verified artifacts, starts its qualification and
// answers 201 (remembering the answer for an Idempotency-Key).
func (sub *submission) accept(adm *admission, arts []store.PatchArtifact, idemKey string) {
	s, r, w := sub.s, sub.r, sub.w
	m := adm.manifest
	p := store.Patch{ID: sub.patchID, VendorID: adm.vendor.ID, ProductID: adm.product.ID, PatchRef: m.PatchID, Version: m.Version, Title: m.Title,
		Status: string(domain.PatchSubmitted), Manifest: string(adm.raw), ManifestSHA256: adm.sha256, Signature: adm.signature,
		KeyFingerprint: adm.fingerprint, Reasons: "[]", Applicable: "[]", Report: "{}", SubmittedBy: actorOf(r).Name}
	ev := event(r, "patch.submitted")
	ev.WorkflowID = workflows.QualificationWorkflowID(p.ID)
	ev.Details = map[string]any{"patch_ref": m.PatchID, "version": m.Version, "product": m.Product, "manifest_sha256": p.ManifestSHA256, "key": adm.fingerprint, "artifacts": len(arts)}
	if err := s.Store.CreatePatch(r.Context(), &p, arts, ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			sub.refuse(http.StatusConflict, err.Error(), nil)
			return
		}
		sub.cleanup()
		s.fail(w, r, err)
		return
	}
	if err := s.engine.StartQualification(r.Context(), p.ID); err != nil {
		// The patch is stored as submitted: the server's reconciler starts its qualification
		// once the workflow engine answers (internal/engine).
		s.Logger.Error("start qualification; it starts when the workflow engine answers", "patch", p.ID, "err", err)
	}
	view, err := s.patchView(r.Context(), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	answer := shapedFor(r, view)
	if idemKey != "" {
		body, _ := json.MarshalIndent(filled(answer), "", "  ")
		if err := s.Store.SaveIdempotentResponse(r.Context(), actorOf(r).Name, idemKey, http.StatusCreated, string(body)+"\n"); err != nil {
			s.Logger.Error("store idempotent response", "err", err)
		}
	}
	locateCreated(w, "patches", p.ID)
	writeJSON(w, http.StatusCreated, answer)
}

func (sub *submission) receiveArtifacts(mr *multipart.Reader) ([]store.PatchArtifact, bool) {
	m := sub.manifest
	got := map[string]bool{}
	var out []store.PatchArtifact
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			sub.refuseRead(err)
			return nil, false
		}
		name := rawFileName(part)
		if part.FormName() != "artifact" {
			sub.refuse(http.StatusBadRequest, fmt.Sprintf("unexpected part %q: after manifest and signature only \"artifact\" parts may follow", part.FormName()), nil)
			return nil, false
		}
		ref, ok := m.Artifact(name)
		if !ok {
			sub.refuse(http.StatusUnprocessableEntity, fmt.Sprintf("artifact %q is not listed in the manifest; the manifest binds every artifact by name, size and SHA-256", name), nil)
			return nil, false
		}
		if got[name] {
			sub.refuse(http.StatusUnprocessableEntity, fmt.Sprintf("artifact %q was sent twice", name), nil)
			return nil, false
		}
		got[name] = true
		key := artifacts.PatchKey(sub.patchID, name)
		mediaType := ref.MediaType
		if mediaType == "" {
			mediaType = "application/octet-stream"
		}
		info, err := sub.s.Objects.Put(sub.r.Context(), key, part, artifacts.Expect{Size: ref.Size, SHA256: ref.SHA256}, mediaType)
		if err != nil {
			var mm *artifacts.MismatchError
			if errors.As(err, &mm) {
				sub.refuse(http.StatusUnprocessableEntity, fmt.Sprintf("artifact %s: %s of the upload does not match the manifest (got %s, manifest says %s); the artifact was not stored", name, mm.What, mm.Got, mm.Want),
					[]domain.FieldError{{Field: "artifact " + name, Message: mm.What + " mismatch"}})
				return nil, false
			}
			sub.refuseRead(err)
			return nil, false
		}
		sub.stored = append(sub.stored, key)
		out = append(out, store.PatchArtifact{Name: name, ObjectKey: key, Size: info.Size, SHA256: info.SHA256, MediaType: mediaType})
	}
	var missing []string
	for _, a := range m.Artifacts {
		if !got[a.Name] {
			missing = append(missing, a.Name)
		}
	}
	if len(missing) > 0 {
		sub.refuse(http.StatusUnprocessableEntity, "the manifest lists artifacts that were not sent: "+strings.Join(missing, ", "), nil)
		return nil, false
	}
	return out, true
}

// rawFileName is the part's file name exactly as sent; multipart.Part.FileName would strip a
// directory, and a name with one must be refused, not silently shortened.
func rawFileName(p *multipart.Part) string {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	return params["filename"]
}

// refuseRead answers an upload that broke off or exceeded the size limit.
func (sub *submission) refuseRead(err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		sub.refuse(http.StatusRequestEntityTooLarge, fmt.Sprintf("the submission is larger than the limit of %d bytes; nothing was stored", mbe.Limit), nil)
		return
	}
	sub.refuse(http.StatusBadRequest, "the upload broke off: "+err.Error()+"; nothing was stored, send it again", nil)
}

// newestFirstKey is the page key of an item of a list ordered newest first: its time and id.
func newestFirstKey(at time.Time, id string) string {
	return cursorKey(at.UTC().Format(time.RFC3339Nano), id)
}

// newestFirstAfter reads a key made by newestFirstKey back from the page request (zero for the
// first page); a cursor of another list is a fault of ?after.
func newestFirstAfter(pr pageRequest, v *domain.ValidationError) (time.Time, string) {
	if pr.After == "" {
		return time.Time{}, ""
	}
	parts, ok := splitCursor(pr.After, 2)
	if ok {
		if at, err := time.Parse(time.RFC3339Nano, parts[0]); err == nil && parts[1] != "" {
			return at, parts[1]
		}
	}
	v.Add("after", "is not a cursor of this list; pass the next of the previous page as it was, or leave after out for the first page")
	return time.Time{}, ""
}

// oneOfStates says a filter's value must be one of the states.
func oneOfStates(v *domain.ValidationError, field, value string, infos []domain.StateInfo) {
	if value == "" {
		return
	}
	names := stateNames(infos)
	if !slices.Contains(names, value) {
		v.Add(field, "is %q; it must be one of %s", value, strings.Join(names, ", "))
	}
}

// listPatches answers a page of patches, newest first; a vendor reads its own.
func (s *server) listPatches(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := &domain.ValidationError{What: "query"}
	pr := readPage(r, v)
	q := r.URL.Query()
	f := store.PatchFilter{Status: q.Get("status"), VendorID: q.Get("vendor_id"), ProductID: q.Get("product_id"), Limit: pr.Limit + 1}
	f.AfterCreated, f.AfterID = newestFirstAfter(pr, v)
	oneOfStates(v, "status", f.Status, domain.PatchStatusInfo())
	a := actorOf(r)
	if a.Role == domain.RoleVendor {
		if f.VendorID != "" && f.VendorID != a.VendorID {
			v.Add("vendor_id", "is not your vendor; a vendor lists its own patches only: leave vendor_id out")
		}
		f.VendorID = a.VendorID
	} else if f.VendorID != "" {
		if _, err := s.Store.Vendor(ctx, f.VendorID); errors.Is(err, store.ErrNotFound) {
			v.Add("vendor_id", "no vendor %q", f.VendorID)
		} else if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if f.ProductID != "" {
		p, err := s.Store.Product(ctx, f.ProductID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && a.Role == domain.RoleVendor && p.VendorID != a.VendorID) {
			v.Add("product_id", "no product %q", f.ProductID)
		} else if err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	ps, err := s.Store.PatchesPage(ctx, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pg := pageFrom(ps, func(p store.Patch) string { return newestFirstKey(p.CreatedAt, p.ID) }, pr.Limit)
	out := page[patchDoc]{Items: make([]patchDoc, 0, len(pg.Items)), Next: pg.Next}
	for _, p := range pg.Items {
		v, err := s.patchView(ctx, p)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v.Manifest = nil
		out.Items = append(out.Items, shapedFor(r, v))
	}
	writeJSON(w, http.StatusOK, out)
}

// loadPatch finds a patch the actor may see; a vendor gets 404 for another vendor's patch,
// the same answer as for one that does not exist.
func (s *server) loadPatch(w http.ResponseWriter, r *http.Request) (store.Patch, bool) {
	id := chi.URLParam(r, "patchID")
	p, err := s.Store.Patch(r.Context(), id)
	a := actorOf(r)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.Role == domain.RoleVendor && p.VendorID != a.VendorID) {
		notFoundProblem(w, r, "patch "+id)
		return p, false
	}
	if err != nil {
		s.fail(w, r, err)
		return p, false
	}
	return p, true
}

func (s *server) getPatch(w http.ResponseWriter, r *http.Request) {
	p, ok := s.loadPatch(w, r)
	if !ok {
		return
	}
	v, err := s.patchView(r.Context(), p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if actorOf(r).Role != domain.RoleVendor {
		if v.Qualifications, err = s.Store.PatchQualifications(r.Context(), p); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if actorOf(r).Role != domain.RoleVendor && p.Status == string(domain.PatchQualified) && v.Manifest != nil {
		if v.ApplicabilityNow, err = s.liveApplicability(r.Context(), p, v.Manifest); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, shapedFor(r, v))
}

// getManifest returns the manifest exactly as signed, with the signature in a header.
func (s *server) getManifest(w http.ResponseWriter, r *http.Request) {
	p, ok := s.loadPatch(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Otpatch-Signature", p.Signature)
	w.Header().Set("X-Otpatch-Key-Fingerprint", p.KeyFingerprint)
	_, _ = io.WriteString(w, p.Manifest)
}

// patchOperations are the routes of patches.go.
func (s *server) patchOperations() []operation {
	return []operation{
		{Method: "POST", Path: "/api/v1/patches", ID: "submitPatch", Headers: []param{{Name: "Idempotency-Key", Desc: "Names this submission: a retry with the same key after a submission that succeeded answers the first answer again (Idempotent-Replayed: true)",
			Schema: map[string]any{"type": "string", "minLength": 1, "maxLength": 128}}}, Tag: "Patches", Allow: vendors,
			Summary: "Submit a signed patch with its artifacts",
			Description: "The body is multipart/form-data: the part manifest (the manifest JSON exactly as signed), then the part signature (the base64 ed25519 signature of those bytes), " +
				"then one part artifact per artifact the manifest lists, its file name the artifact's name. Artifacts stream into the object store and nothing is kept unless everything verifies: " +
				"the manifest validates, names the caller's vendor and a product of the asset owner's catalogue, carries a signature by a trusted key of that vendor, " +
				"is not a version submitted before (409) and, when it supersedes others, is newer than every accepted version of its product (rollback protection, 409); " +
				"every artifact matches the manifest's size and SHA-256. Every refusal is audited. " +
				"An Idempotency-Key header (1 to 128 printable ASCII characters) makes a retry of a submission that succeeded answer the first answer again (with Idempotent-Replayed: true) instead of a duplicate. " +
				"Large artifacts go through POST /api/v1/patches/uploads. Qualification starts at once; the answer is the patch as its vendor sees it (GET /api/v1/patches/{patchID}).",
			BodyType: "multipart/form-data", BodySchema: submissionSchema(),
			Answers: []answer{submitted()}, Handle: s.submitPatch},
		{Method: "GET", Path: "/api/v1/patches", ID: "listPatches", Tag: "Patches", Allow: anyRole, Roles: "any (vendor: own)",
			Summary:     "List patches, newest first, each shaped for the caller",
			Description: "Each patch is shaped as GET /api/v1/patches/{patchID} shapes it, without its manifest. A vendor sees its own patches only. An unknown vendor_id or product_id is refused (422).",
			Query: paged(
				qEnum("status", "Only patches in this status", stateNames(domain.PatchStatusInfo())...),
				qString("vendor_id", "Only this vendor's patches"),
				qString("product_id", "Only patches for this product")),
			Answers: []answer{ok(page[patchDoc]{})}, Handle: s.listPatches},
		{Method: "GET", Path: "/api/v1/patches/{patchID}", ID: "getPatch", Tag: "Patches", Allow: anyRole, Roles: "any (vendor: own)",
			Summary: "Show a patch with its qualification result, shaped for the caller",
			Description: "Staff get applicable_assets, qualification_report and applicability_now, the patch evaluated against each asset as it runs now. " +
				"A vendor gets applicable_by_version and excluded_by_version (asset counts per product version with its compatibility statement) and risk (CVEs, max CVSS), " +
				"never asset ids or names, zones, SL-T, criticality or safety data.",
			Answers: []answer{ok(patchDoc{})}, Handle: s.getPatch},
		{Method: "GET", Path: "/api/v1/patches/{patchID}/manifest", ID: "getPatchManifest", Tag: "Patches", Allow: anyRole, Roles: "any (vendor: own)",
			Summary:     "The patch's manifest exactly as signed",
			Description: "The bytes the vendor signed, so the signature can be checked again: the signature and the fingerprint of the key that made it are in headers.",
			Answers: []answer{{Status: http.StatusOK, Type: "application/json", Desc: "The manifest exactly as signed; its JSON Schema is GET /api/v1/schemas/patch-manifest.json",
				Schema: map[string]any{"type": "object"},
				Headers: map[string]string{"X-Otpatch-Signature": "The base64 ed25519 signature of the manifest bytes",
					"X-Otpatch-Key-Fingerprint": "The fingerprint of the vendor key that made the signature"}}},
			Handle: s.getManifest},
	}
}

// submitted is the answer to a patch submission.
func submitted() answer {
	a := created(patchDoc{})
	a.Desc = "Submitted; qualification runs now"
	a.Headers["Idempotent-Replayed"] = "true when this is the first answer again, to a retry with the same Idempotency-Key"
	return a
}

// submissionSchema describes the parts of a multipart patch submission.
func submissionSchema() map[string]any {
	return map[string]any{
		"type": "object", "required": []any{"manifest", "signature", "artifact"},
		"properties": map[string]any{
			"manifest":  map[string]any{"type": "string", "format": "binary", "description": "The first part: the manifest JSON exactly as signed (GET /api/v1/schemas/patch-manifest.json)"},
			"signature": map[string]any{"type": "string", "description": "The second part: the base64 ed25519 signature of the manifest bytes"},
			"artifact": map[string]any{"type": "array", "description": "Then one part per artifact the manifest lists, its file name the artifact's name",
				"items": map[string]any{"type": "string", "format": "binary"}},
		},
	}
}
