package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/otpatch/otpatch/internal/adapters/simulator"
	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/evidence"
	"github.com/otpatch/otpatch/internal/store"
)

// A campaign's evidence bundle for auditors: one tar.gz that `otpatch evidence verify`
// checks offline.

// evidenceCampaign is campaign.json: the campaign with the patch identity it was planned for.
type evidenceCampaign struct {
	store.Campaign
	Plan           json.RawMessage `json:"plan"`
	PatchRef       string          `json:"patch_ref"`
	PatchVersion   string          `json:"patch_version"`
	VendorID       string          `json:"vendor_id"`
	ManifestSHA256 string          `json:"manifest_sha256"`
	KeyFingerprint string          `json:"key_fingerprint"`
	// Advisory is the advisory decision the campaign was planned from, if any.
	Advisory *campaignOrigin `json:"advisory,omitempty"`
}

// evidenceAsset is one target in the deployment log.
type evidenceAsset struct {
	store.CampaignAsset
	Name       string                `json:"name"`
	ZoneID     string                `json:"zone_id"`
	Operations []simulator.Operation `json:"device_operations"`
	Events     []evidenceEvent       `json:"audit_events"`
}

type evidenceEvent struct {
	Seq     int64           `json:"seq"`
	At      string          `json:"at"`
	Action  string          `json:"action"`
	Actor   string          `json:"actor"`
	Details json.RawMessage `json:"details"`
}

type evidenceBackup struct {
	AssetID string `json:"asset_id"`
	Name    string `json:"name"`
	Key     string `json:"object_key"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

func (s *server) campaignEvidence(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.Store.Checkpointer() == nil {
		writeProblem(w, r, problem{Status: http.StatusConflict, Detail: "audit checkpoints are not configured on this server; an evidence bundle needs signed checkpoints to cover its audit excerpt"})
		return
	}
	id := chi.URLParam(r, "campaignID")
	in, err := s.evidenceInput(ctx, id, event(r, "campaign.evidence_exported"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="evidence-%s.tar.gz"`, id))
	if err := evidence.Write(w, in, s.Store.Checkpointer().SignEvidence); err != nil {
		s.Logger.Error("evidence bundle interrupted", "err", err, "campaign", id, "request_id", requestID(r))
	}
}

// EvidenceWriter writes campaigns' evidence bundles as GET /api/v1/campaigns/{id}/evidence
// does, for a site's results bundle (internal/airgap).
func EvidenceWriter(d Deps) func(ctx context.Context, campaignID string, by store.Event, w io.Writer) error {
	s := &server{Deps: d}
	return func(ctx context.Context, campaignID string, by store.Event, w io.Writer) error {
		cpr := s.Store.Checkpointer()
		if cpr == nil {
			return fmt.Errorf("audit checkpoints are not configured; an evidence bundle needs them: %w", store.ErrConflict)
		}
		by.Action = "campaign.evidence_exported"
		in, err := s.evidenceInput(ctx, campaignID, by)
		if err != nil {
			return err
		}
		return evidence.Write(w, in, cpr.SignEvidence)
	}
}

// evidenceInput gathers a campaign's evidence, after recording its export (ev): the bundle
// then carries its own export event.
func (s *server) evidenceInput(ctx context.Context, id string, ev store.Event) (evidence.Input, error) {
	cpr := s.Store.Checkpointer()
	c, err := s.Store.Campaign(ctx, id)
	if err != nil {
		return evidence.Input{}, err
	}
	p, err := s.Store.Patch(ctx, c.PatchID)
	if err != nil {
		return evidence.Input{}, err
	}
	keys, err := s.Store.VendorKeys(ctx, p.VendorID)
	if err != nil {
		return evidence.Input{}, err
	}
	var vk evidence.VendorKey
	for _, k := range keys {
		if k.Fingerprint == p.KeyFingerprint {
			vk = evidence.VendorKey{Fingerprint: k.Fingerprint, PublicKey: k.PublicKey, NotBefore: k.NotBefore, NotAfter: k.NotAfter, RevokedAt: k.RevokedAt}
		}
	}
	targets, err := s.Store.CampaignAssets(ctx, id)
	if err != nil {
		return evidence.Input{}, err
	}
	approvals, err := s.Store.Approvals(ctx, id)
	if err != nil {
		return evidence.Input{}, err
	}
	origin, err := s.originOf(ctx, id)
	if err != nil {
		return evidence.Input{}, err
	}
	if approvals == nil {
		approvals = []store.ApprovalRecord{}
	}
	var sites map[string][]byte
	if s.Transfers != nil {
		if sites, err = s.Transfers.SiteEvidence(ctx, id); err != nil {
			return evidence.Input{}, err
		}
	}
	ev.SubjectType, ev.SubjectID, ev.CampaignID = "campaign", id, id
	if _, err := s.Store.Append(ctx, ev); err != nil {
		return evidence.Input{}, err
	}
	// The campaign's own events, each proved to be in the log of one signed checkpoint that
	// covers them all: nothing of other campaigns, vendors or tokens.
	cp, err := cpr.CheckpointHead(ctx, s.Store.AuditTreeHead)
	if err != nil {
		return evidence.Input{}, err
	}
	var excerpt []audit.Event
	var proofs [][][]byte
	err = s.Store.EachAuditEvent(ctx, store.AuditFilter{CampaignID: id}, func(e audit.Event) error {
		if e.Seq > cp.Size {
			return errStop
		}
		path, err := s.Store.InclusionPath(ctx, e.Seq, cp.Size)
		if err != nil {
			return err
		}
		excerpt, proofs = append(excerpt, e), append(proofs, path)
		return nil
	})
	if err != nil && err != errStop {
		return evidence.Input{}, err
	}
	perAsset := map[string][]evidenceEvent{}
	for _, e := range excerpt {
		if e.AssetID != "" {
			perAsset[e.AssetID] = append(perAsset[e.AssetID], evidenceEvent{Seq: e.Seq, At: e.At, Action: e.Action, Actor: e.Actor, Details: json.RawMessage(e.Details)})
		}
	}
	var bench, deploy []evidenceAsset
	backups := []evidenceBackup{}
	for _, t := range targets {
		as, err := s.Store.Asset(ctx, t.AssetID)
		if err != nil {
			return evidence.Input{}, err
		}
		ea := evidenceAsset{CampaignAsset: t, Name: as.Name, ZoneID: as.ZoneID, Events: perAsset[t.AssetID], Operations: []simulator.Operation{}}
		if s.Simulator != nil && as.Adapter == "simulator" {
			ops, err := s.Simulator.Operations(ctx, t.AssetID)
			if err != nil {
				return evidence.Input{}, err
			}
			for _, op := range ops {
				if !strings.HasPrefix(op.IdempotencyKey, id+"/") {
					continue // another campaign's change to the same device (a shared test bench)
				}
				ea.Operations = append(ea.Operations, op)
			}
		}
		if t.TestBench {
			bench = append(bench, ea)
		} else {
			deploy = append(deploy, ea)
		}
		if t.BackupKey != "" {
			backups = append(backups, evidenceBackup{AssetID: t.AssetID, Name: as.Name, Key: t.BackupKey, SHA256: t.BackupSHA256, Size: t.BackupSize})
		}
	}
	if bench == nil {
		bench = []evidenceAsset{}
	}
	if deploy == nil {
		deploy = []evidenceAsset{}
	}
	return evidence.Input{CampaignID: id, PatchID: c.PatchID, GeneratedAt: s.Store.Now(), GeneratedBy: ev.Actor,
		Campaign: evidenceCampaign{Campaign: c, Plan: json.RawMessage(c.Plan), PatchRef: p.PatchRef, PatchVersion: p.Version, VendorID: p.VendorID,
			ManifestSHA256: p.ManifestSHA256, KeyFingerprint: p.KeyFingerprint, Advisory: origin},
		TestBench: bench, Backups: backups, Approvals: approvals, Deployment: deploy,
		Manifest: []byte(p.Manifest), Signature: p.Signature, VendorKey: vk, Report: json.RawMessage(p.Report),
		Events: excerpt, Proofs: proofs, Checkpoint: cp, CheckpointKey: cpr.PublicKey(), Sites: sites}, nil
}

type stopError struct{}

func (stopError) Error() string { return "stop" }

var errStop error = stopError{}

// evidenceOperations are the routes of evidence.go.
func (s *server) evidenceOperations() []operation {
	bundle := file(http.StatusOK, "application/gzip", "The evidence bundle, a tar.gz that otpatch evidence verify checks offline")
	bundle.Headers = map[string]string{"Content-Disposition": "attachment; filename=\"evidence-{campaignID}.tar.gz\""}
	return []operation{
		{Method: "GET", Path: "/api/v1/campaigns/{campaignID}/evidence", ID: "getCampaignEvidence", Tag: "Evidence", Allow: auditors,
			Summary: "Download the campaign's evidence bundle for auditors",
			Description: "One tar.gz with the signed manifest, the qualification report, the test-bench results, the backups, the approvals, the deployment log, " +
				"the campaign's own audit events each with its inclusion proof to one signed checkpoint of the audit log, a README and signed SHA256SUMS; " +
				"otpatch evidence verify and docs/verify-evidence.py check it offline (docs/audit-format.md specifies it). " +
				"The export is recorded in the audit trail first, so the bundle carries its own export event. " +
				"A server without audit checkpoints configured cannot make one (409).",
			Answers: []answer{bundle}, Handle: s.campaignEvidence},
	}
}
