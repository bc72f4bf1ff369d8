package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/otpatch/otpatch/internal/airgap"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/transfer"
	"github.com/otpatch/otpatch/workflows"
)

// Air-gapped sites (internal/airgap): transfer bundles written and imported through the API,
// so that the transfer key stays with the server. docs/transfer-format.md specifies the file.

// transferKeyView is this instance's transfer key, to pin at the other side.
type transferKeyView struct {
	PublicKey string `json:"public_key" doc:"base64 of the 32 raw ed25519 bytes: what the other side pins (PATCH /api/v1/sites/{siteID} transfer_key at the central instance; OTPATCH_TRANSFER_CENTRAL_KEY at a site)"`
	PEM       string `json:"pem" doc:"The same key as a PEM PUBLIC KEY (for openssl and docs/transfer-format.md section 5)"`
	KeyID     string `json:"key_id" doc:"The key id bundles name it by: the first 8 bytes of SHA-256 of the raw key, in hex"`
	Origin    string `json:"origin" doc:"The signer's name in the bundles this instance writes"`
	Site      string `json:"site,omitempty" doc:"On an air-gapped site's own instance: its site id"`
	// CentralKeyID is the central key a site instance pins.
	CentralKeyID string `json:"central_key_id,omitempty" doc:"On an air-gapped site's own instance: the id of the central transfer key it pins"`
}

type transferExportRequest struct {
	Kind          transfer.Kind `json:"kind" api:"required" doc:"plan (central instance: an approved campaign of an air-gapped site), results (site instance: an imported campaign as it stands) or inventory (site instance: its assets' installed versions)"`
	CampaignID    string        `json:"campaign_id,omitempty" doc:"The campaign, for plan and results"`
	ExpiresInDays *int          `json:"expires_in_days,omitempty" doc:"How many days the bundle is accepted (1 to 90, default 14)"`
}

func (s *server) transfersReady(w http.ResponseWriter, r *http.Request) bool {
	if s.Transfers == nil {
		writeProblem(w, r, problem{Status: http.StatusConflict, Title: "Transfers are not configured",
			Detail: "this server has no transfer key: start it with --transfer-key (OTPATCH_TRANSFER_KEY_FILE)"})
		return false
	}
	return true
}

func (s *server) getTransferKey(w http.ResponseWriter, r *http.Request) {
	if !s.transfersReady(w, r) {
		return
	}
	pub := s.Transfers.PublicKey()
	pemBytes, err := signing.MarshalPublic(pub)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	v := transferKeyView{PublicKey: signing.EncodePublic(pub), PEM: string(pemBytes), KeyID: transfer.KeyID(pub), Origin: s.Transfers.Origin, Site: s.Transfers.Site}
	if s.Transfers.CentralKey != nil {
		v.CentralKeyID = transfer.KeyID(s.Transfers.CentralKey)
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *server) exportTransfer(w http.ResponseWriter, r *http.Request) {
	if !s.transfersReady(w, r) {
		return
	}
	var in transferExportRequest
	if err := decode(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	v := &domain.ValidationError{What: "transfer"}
	expires := airgap.DefaultExpiry
	if in.ExpiresInDays != nil {
		if *in.ExpiresInDays < 1 || *in.ExpiresInDays > 90 {
			v.Add("expires_in_days", "must be from 1 to 90, got %d", *in.ExpiresInDays)
		}
		expires = time.Duration(*in.ExpiresInDays) * 24 * time.Hour
	}
	switch in.Kind {
	case transfer.KindPlan, transfer.KindResults:
		if in.CampaignID == "" {
			v.Add("campaign_id", "is required for a %s bundle", in.Kind)
		}
	case transfer.KindInventory:
		if in.CampaignID != "" {
			v.Add("campaign_id", "is not part of an inventory bundle; leave it out")
		}
	default:
		v.Add("kind", "must be plan, results or inventory, got %q", in.Kind)
	}
	if len(in.CampaignID) > 200 {
		v.Add("campaign_id", "is longer than 200 characters")
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	ev := event(r, "transfer.exported")
	var e *airgap.Exported
	var err error
	switch in.Kind {
	case transfer.KindPlan:
		e, err = s.Transfers.ExportPlan(ctx, in.CampaignID, expires, ev)
	case transfer.KindResults:
		e, err = s.Transfers.ExportResults(ctx, in.CampaignID, expires, ev)
	default:
		e, err = s.Transfers.ExportInventory(ctx, expires, ev)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer e.Close()
	h := w.Header()
	h.Set("Content-Type", "application/x-tar")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, e.Name))
	h.Set("Content-Length", strconv.FormatInt(e.Size, 10))
	h.Set("X-Bundle-SHA256", e.SHA256)
	h.Set("X-Bundle-Sequence", strconv.FormatUint(e.Header.Sequence, 10))
	h.Set("X-Bundle-Digest", e.Digest)
	h.Set("X-Bundle-Expires", e.Header.ExpiresAt.UTC().Format(time.RFC3339))
	if e.Again {
		h.Set("X-Bundle-Again", "true")
	}
	w.WriteHeader(http.StatusOK)
	if _, err := e.WriteTo(w); err != nil {
		s.Logger.Error("transfer bundle interrupted", "err", err, "request_id", requestID(r))
	}
}

func (s *server) importTransfer(w http.ResponseWriter, r *http.Request) {
	if !s.transfersReady(w, r) {
		return
	}
	acceptGap := false
	switch v := r.URL.Query().Get("accept_gap"); v {
	case "", "0", "false":
	case "1", "true":
		acceptGap = true
	default:
		s.fail(w, r, &domain.ValidationError{What: "query", Fields: []domain.FieldError{{Field: "accept_gap", Message: fmt.Sprintf("must be true or false, got %q", v)}}})
		return
	}
	ctx := r.Context()
	f, err := os.CreateTemp(s.Transfers.TempDir, ".otpatch-upload-*.tar")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, http.MaxBytesReader(w, r.Body, airgap.MaxBundleSize)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.refuseTransfer(w, r, string(transfer.ReasonTooLarge), fmt.Sprintf("the bundle is larger than %d GiB, the most one import takes", airgap.MaxBundleSize>>30))
			return
		}
		s.fail(w, r, invalidBody("body", "the bundle did not arrive whole: "+err.Error()))
		return
	}
	res, err := s.Transfers.Import(ctx, f.Name(), event(r, "transfer.imported"), acceptGap)
	if reason, detail, ok := airgap.Reason(err); ok {
		s.refuseTransfer(w, r, reason, detail)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if res.CampaignID != "" && (!res.Duplicate || res.Kind == transfer.KindResults) {
		s.afterImport(context.WithoutCancel(ctx), r, res)
	}
	writeJSON(w, http.StatusOK, res)
}

// afterImport tells the engine: a site's instance starts an imported campaign; the central
// instance wakes the campaign that waits for the site's results (it reads them from the
// store, and looks by itself every day, so a lost signal delays and loses nothing).
func (s *server) afterImport(ctx context.Context, r *http.Request, res airgap.Imported) {
	switch res.Kind {
	case transfer.KindPlan:
		if err := s.engine.StartCampaign(ctx, res.CampaignID); err != nil {
			// The reconciler starts campaigns whose workflow never started (reconcile.go).
			s.Logger.Error("starting an imported campaign failed; the reconciler will start it", "err", err, "campaign", res.CampaignID, "request_id", requestID(r))
		}
	case transfer.KindResults:
		if s.Temporal == nil {
			return
		}
		if err := s.Temporal.SignalWorkflow(ctx, workflows.CampaignWorkflowID(res.CampaignID), "", workflows.SignalSiteResults, nil); err != nil {
			s.Logger.Warn("telling the campaign of the site's results failed; it looks again within the day; importing the same bundle again tells it too", "err", err, "campaign", res.CampaignID)
		}
	}
}

// refuseTransfer answers a refused bundle (422, the reason as the problem's rule) and audits
// the refusal; nothing else changed.
func (s *server) refuseTransfer(w http.ResponseWriter, r *http.Request, reason, detail string) {
	ev := event(r, "transfer.refused")
	ev.SubjectType, ev.SubjectID = "transfer", "import"
	ev.Details = map[string]any{"reason": reason, "detail": detail}
	if _, err := s.Store.Append(r.Context(), ev); err != nil {
		s.Logger.Error("audit append failed", "err", err, "request_id", requestID(r))
	}
	writeProblem(w, r, problem{Status: http.StatusUnprocessableEntity, Title: "Transfer bundle refused", Detail: detail, Rule: reason})
}

func (s *server) listTransfers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := &domain.ValidationError{What: "query"}
	f := store.TransferFilter{SiteID: q.Get("site_id"), CampaignID: q.Get("campaign_id"), Kind: q.Get("kind"), Direction: q.Get("direction"), Limit: 100}
	if f.Kind != "" && !transfer.Kind(f.Kind).Valid() {
		v.Add("kind", "must be plan, results or inventory, got %q", f.Kind)
	}
	if f.Direction != "" && f.Direction != store.TransferIn && f.Direction != store.TransferOut {
		v.Add("direction", "must be in or out, got %q", f.Direction)
	}
	if err := v.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	ts, err := s.Store.Transfers(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, transferList{Items: ts})
}

// transferList is the answer of GET /api/v1/transfers.
type transferList struct {
	Items []store.Transfer `json:"items" doc:"The newest 100, newest first"`
}

func (s *server) transferOperations() []operation {
	bundle := file(http.StatusOK, "application/x-tar", "The signed transfer bundle (docs/transfer-format.md); X-Bundle-SHA256 is the file's SHA-256, to compare at the other end")
	bundle.Headers = map[string]string{"Content-Disposition": "attachment; filename=\"<site>-<kind>-<sequence>.tar\"",
		"X-Bundle-SHA256": "SHA-256 of the whole file, as sha256sum prints it", "X-Bundle-Sequence": "The bundle's sequence number",
		"X-Bundle-Digest": "SHA-256 of its header, its identity", "X-Bundle-Expires": "When it stops being accepted",
		"X-Bundle-Again": "true when this is a plan bundle written before, written again byte for byte"}
	return []operation{
		{Method: "GET", Path: "/api/v1/transfers/key", ID: "getTransferKey", Tag: "Transfers", Allow: staff,
			Summary:     "Show this instance's transfer key",
			Description: "The ed25519 key this instance signs transfer bundles with, to pin at the other side. 409 when no transfer key is configured.",
			Answers:     []answer{ok(transferKeyView{})}, Handle: s.getTransferKey},
		{Method: "GET", Path: "/api/v1/transfers", ID: "listTransfers", Tag: "Transfers", Allow: staff,
			Summary: "List the transfer bundles this instance wrote and imported",
			Query: []param{qString("site_id", "Only this site's"), qString("campaign_id", "Only this campaign's"),
				qEnum("kind", "Only this kind", "plan", "results", "inventory"), qEnum("direction", "out: written here; in: imported here", "in", "out")},
			Answers: []answer{ok(transferList{})}, Handle: s.listTransfers},
		{Method: "POST", Path: "/api/v1/transfers/export", ID: "exportTransfer", Tag: "Transfers", Allow: engineers,
			Summary: "Write a signed transfer bundle",
			Description: "At the central instance: the plan bundle of an approved campaign of an air-gapped site (409 before approval); asked again before it expires, " +
				"the same bundle is written again byte for byte. At an air-gapped site's own instance: a results bundle of an imported campaign, or an inventory bundle. " +
				"Each bundle takes the next sequence number of its site and kind, and the export is audited.",
			Body: transferExportRequest{}, Answers: []answer{bundle}, Handle: s.exportTransfer},
		{Method: "POST", Path: "/api/v1/transfers/import", ID: "importTransfer", Tag: "Transfers", Allow: engineers,
			Summary: "Import a signed transfer bundle",
			Description: "The body is the bundle file. It is verified against the pinned key of its signer (a site instance pins the central key; the central instance each site's), " +
				"its expiry, sequence, files, and content (plan digest, approvals, vendor signature, the site's evidence). A refused bundle is answered 422 with the reason as the rule " +
				"(damaged, foreign_key, bad_signature, expired, tampered, replayed, sequence_gap, …), audited, and changes nothing. The same bundle as the last imported is a duplicate: 200, nothing changes. " +
				"A plan bundle starts its campaign at the site; a results bundle updates the campaign at the central instance.",
			Query:    []param{qBool("accept_gap", "Import a bundle although bundles before it never arrived (refused otherwise as sequence_gap): the operator's decision, recorded with the numbers missed")},
			BodyType: "application/x-tar", BodySchema: map[string]any{"type": "string", "format": "binary"},
			Answers: []answer{ok(airgap.Imported{})}, Handle: s.importTransfer},
	}
}
