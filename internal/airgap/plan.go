package airgap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/transfer"
)

// planDoc is plan.json of a plan bundle: the campaign as approved, with what the site needs
// to check it and run it. The manifest, exactly as the vendor signed it, is manifest.json;
// each artifact is artifacts/<name>.
type planDoc struct {
	Campaign  planCampaign           `json:"campaign"`
	Plan      json.RawMessage        `json:"plan"`
	Approvals []store.ApprovalRecord `json:"approvals"`
	Patch     planPatch              `json:"patch"`
	VendorKey planVendorKey          `json:"vendor_key"`
	Artifacts []planArtifact         `json:"artifacts"`
}

type planCampaign struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	CreatedBy  string    `json:"created_by"`
	PlanDigest string    `json:"plan_digest"`
	CreatedAt  time.Time `json:"created_at"`
}

type planPatch struct {
	ID             string    `json:"id"`
	VendorID       string    `json:"vendor_id"`
	VendorName     string    `json:"vendor_name"`
	VendorDisplay  string    `json:"vendor_display_name"`
	ProductID      string    `json:"product_id"`
	PatchRef       string    `json:"patch_ref"`
	Version        string    `json:"version"`
	Title          string    `json:"title"`
	ManifestSHA256 string    `json:"manifest_sha256"`
	Signature      string    `json:"signature"`
	KeyFingerprint string    `json:"key_fingerprint"`
	SubmittedBy    string    `json:"submitted_by"`
	Report         string    `json:"report,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

type planVendorKey struct {
	Fingerprint string    `json:"fingerprint"`
	PublicKey   string    `json:"public_key"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
}

type planArtifact struct {
	Name      string `json:"name"`
	Path      string `json:"path"`
	ObjectKey string `json:"object_key"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
	MediaType string `json:"media_type,omitempty"`
}

// ExportPlan writes the plan bundle of an approved campaign for its air-gapped site. A
// campaign whose plan bundle has not expired gets that bundle again, byte for byte, with its
// sequence number: the site takes it as a duplicate, or in its place when it was lost.
func (n *Node) ExportPlan(ctx context.Context, campaignID string, expiresIn time.Duration, ev store.Event) (*Exported, error) {
	if n.SiteMode() {
		return nil, invalid("this is site %s's own instance; plan bundles are written by the central instance", n.Site)
	}
	c, err := n.Store.Campaign(ctx, campaignID)
	if err != nil {
		return nil, err
	}
	var plan domain.Plan
	if err := json.Unmarshal([]byte(c.Plan), &plan); err != nil {
		return nil, fmt.Errorf("campaign %s plan: %w", c.ID, err)
	}
	if plan.TransferSite == "" {
		return nil, invalid("campaign %s runs here, not at an air-gapped site; only campaigns of an air-gapped site's assets are carried", c.ID)
	}
	switch domain.CampaignStatus(c.Status) {
	case domain.CampaignApproved, domain.CampaignScheduled, domain.CampaignDeploying:
	default:
		return nil, fmt.Errorf("campaign %s is %s; its plan bundle is written once the plan is approved: %w", c.ID, c.Status, store.ErrConflict)
	}
	doc, files, err := n.planFiles(ctx, c, plan)
	if err != nil {
		return nil, err
	}
	docJSON, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	files = append(files, transfer.BytesFile(filePlan, append(docJSON, '\n')))
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })

	// The campaign's own bundle, written before and not expired, is written again: a copy
	// lost on the way is replaced by the same bundle, in its place in the sequence.
	before, err := n.Store.Transfers(ctx, store.TransferFilter{SiteID: plan.TransferSite, CampaignID: c.ID, Kind: string(transfer.KindPlan), Direction: store.TransferOut, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(before) == 1 && n.Store.Now().Before(before[0].ExpiresAt) {
		last := before[0]
		h := transfer.Header{Kind: transfer.KindPlan, SiteID: last.SiteID, Sequence: last.Sequence, CreatedAt: last.CreatedAt, ExpiresAt: last.ExpiresAt, Origin: last.Origin}
		e, err := n.write(h, files)
		if err != nil {
			return nil, err
		}
		if e.Digest == last.Digest {
			e.Again = true
			return e, nil
		}
		e.Close() // the campaign's content changed since: a new bundle
	}
	ev.PatchID = c.PatchID
	return n.writeNext(ctx, plan.TransferSite, transfer.KindPlan, expiresIn, files, c.ID, c.Status, c.Detail, ev)
}

// planFiles gathers plan.json's content and the manifest and artifact files.
func (n *Node) planFiles(ctx context.Context, c store.Campaign, plan domain.Plan) (planDoc, []transfer.File, error) {
	p, err := n.Store.Patch(ctx, c.PatchID)
	if err != nil {
		return planDoc{}, nil, err
	}
	v, err := n.Store.Vendor(ctx, p.VendorID)
	if err != nil {
		return planDoc{}, nil, err
	}
	keys, err := n.Store.VendorKeys(ctx, p.VendorID)
	if err != nil {
		return planDoc{}, nil, err
	}
	doc := planDoc{Plan: json.RawMessage(c.Plan),
		Campaign: planCampaign{ID: c.ID, Name: c.Name, CreatedBy: c.CreatedBy, PlanDigest: c.PlanDigest, CreatedAt: c.CreatedAt},
		Patch: planPatch{ID: p.ID, VendorID: p.VendorID, VendorName: v.Name, VendorDisplay: v.DisplayName, ProductID: p.ProductID, PatchRef: p.PatchRef,
			Version: p.Version, Title: p.Title, ManifestSHA256: p.ManifestSHA256, Signature: p.Signature, KeyFingerprint: p.KeyFingerprint,
			SubmittedBy: p.SubmittedBy, Report: p.Report, CreatedAt: p.CreatedAt}}
	for _, k := range keys {
		if k.Fingerprint == p.KeyFingerprint {
			doc.VendorKey = planVendorKey{Fingerprint: k.Fingerprint, PublicKey: k.PublicKey, NotBefore: k.NotBefore, NotAfter: k.NotAfter}
		}
	}
	if doc.VendorKey.PublicKey == "" {
		return planDoc{}, nil, fmt.Errorf("the key %s that signed patch %s is no longer on file", p.KeyFingerprint, p.ID)
	}
	aps, err := n.Store.Approvals(ctx, c.ID)
	if err != nil {
		return planDoc{}, nil, err
	}
	for _, ap := range aps {
		if ap.Decision == "approved" && ap.PlanDigest == c.PlanDigest {
			doc.Approvals = append(doc.Approvals, ap)
		}
	}
	if len(doc.Approvals) == 0 {
		return planDoc{}, nil, fmt.Errorf("campaign %s has no approval of its current plan: %w", c.ID, store.ErrConflict)
	}
	files := []transfer.File{transfer.BytesFile(fileManifest, []byte(p.Manifest))}
	arts, err := n.Store.PatchArtifacts(ctx, p.ID)
	if err != nil {
		return planDoc{}, nil, err
	}
	for i, a := range arts {
		path := artifactsDir + a.Name
		if transfer.ValidPath(path) != "" {
			path = fmt.Sprintf("%s%d", artifactsDir, i+1)
		}
		doc.Artifacts = append(doc.Artifacts, planArtifact{Name: a.Name, Path: path, ObjectKey: a.ObjectKey, Size: a.Size, SHA256: a.SHA256, MediaType: a.MediaType})
		key := a.ObjectKey
		files = append(files, transfer.File{Path: path, SHA256: a.SHA256, Size: a.Size,
			Open: func() (io.ReadCloser, error) { return n.Objects.Open(ctx, key) }})
	}
	return doc, files, nil
}

// importPlan checks a verified plan bundle's content and creates its campaign here, approved
// as it was at the central instance; the caller starts its workflow.
func (n *Node) importPlan(ctx context.Context, b *transfer.Bundle, t *store.Transfer, ev *store.Event, details map[string]any, out *Imported) error {
	raw, err := readLimited(b.FilePath(filePlan), 16<<20)
	if err != nil {
		return refused(string(transfer.ReasonMissingFile), "the plan bundle holds no %s", filePlan)
	}
	var doc planDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return refused("bad_plan", "%s is not a plan otpatch can read", filePlan)
	}
	manifest, err := os.ReadFile(b.FilePath(fileManifest))
	if err != nil {
		return refused(string(transfer.ReasonMissingFile), "the plan bundle holds no %s", fileManifest)
	}
	// The vendor's signature over the manifest, with the key that signed it.
	if h := sha256.Sum256(manifest); hex.EncodeToString(h[:]) != doc.Patch.ManifestSHA256 {
		return refused("manifest", "the manifest's SHA-256 is not the patch's (%s)", doc.Patch.ManifestSHA256)
	}
	vk := doc.VendorKey
	vpub, err := signing.DecodePublic(vk.PublicKey)
	if err != nil || signing.Fingerprint(vpub) != vk.Fingerprint {
		return refused("vendor_signature", "the vendor key the bundle carries does not match its fingerprint %s", clip(vk.Fingerprint, 100))
	}
	if keys, err := n.Store.VendorKeys(ctx, doc.Patch.VendorID); err == nil {
		for _, k := range keys {
			if k.Fingerprint == vk.Fingerprint && k.RevokedAt != nil {
				return refused("vendor_signature", "vendor key %s was revoked here on %s (%s); a patch it signed is not deployed", k.Fingerprint, k.RevokedAt.UTC().Format(time.RFC3339), k.RevokeReason)
			}
		}
	}
	if _, err := signing.VerifyTrusted([]signing.TrustedKey{{Fingerprint: vk.Fingerprint, Public: vk.PublicKey, NotBefore: vk.NotBefore, NotAfter: vk.NotAfter}},
		manifest, doc.Patch.Signature, doc.Patch.CreatedAt); err != nil {
		return refused("vendor_signature", "the vendor's signature over the manifest does not verify: %v", err)
	}
	m, err := domain.ParseManifest(manifest)
	if err != nil {
		return refused("manifest", "the manifest: %v", err)
	}
	for what, id := range map[string]string{"campaign": doc.Campaign.ID, "patch": doc.Patch.ID, "vendor": doc.Patch.VendorID, "product": doc.Patch.ProductID} {
		if !idPattern.MatchString(id) {
			return refused("bad_plan", "the %s id %q is not an otpatch id", what, clip(id, 100))
		}
	}
	if len(doc.Campaign.Name) > 200 || len(doc.Campaign.CreatedBy) > 200 || len(doc.Patch.Title) > 500 || len(doc.Patch.PatchRef) > 200 ||
		len(doc.Patch.Version) > 100 || len(doc.Patch.VendorName) > 200 || len(doc.Patch.VendorDisplay) > 200 || len(doc.Patch.SubmittedBy) > 200 ||
		len(doc.Patch.Report) > 1<<20 || len(doc.Approvals) > 100 {
		return refused("bad_plan", "plan.json has a field longer than otpatch takes")
	}
	// The plan, its digest and the approvals of that digest.
	var plan domain.Plan
	if err := json.Unmarshal(doc.Plan, &plan); err != nil {
		return refused("bad_plan", "the plan is not one otpatch can read")
	}
	if d := plan.Digest(); d != doc.Campaign.PlanDigest {
		return refused("plan_digest", "the plan hashes to %s, not to the digest %s that was approved", d, doc.Campaign.PlanDigest)
	}
	if plan.TransferSite != n.Site {
		return refused(string(transfer.ReasonSite), "the plan is for site %q, and this is site %s's instance", plan.TransferSite, n.Site)
	}
	if plan.PatchID != doc.Patch.ID || plan.ManifestSHA256 != doc.Patch.ManifestSHA256 {
		return refused("plan_digest", "the plan names patch %s with manifest %s, and the bundle carries patch %s with manifest %s", plan.PatchID, plan.ManifestSHA256, doc.Patch.ID, doc.Patch.ManifestSHA256)
	}
	var approvers []string
	seen := map[string]bool{}
	for _, ap := range doc.Approvals {
		switch {
		case ap.ID == "" || len(ap.ID) > 200 || len(ap.Actor) > 200 || len(ap.Reason) > 2000 || !domain.Role(ap.Role).Valid():
			return refused("approvals", "an approval has an id, actor, role or reason otpatch does not take")
		case ap.Decision != "approved" || ap.PlanDigest != doc.Campaign.PlanDigest:
			return refused("approvals", "approval %s is not an approval of plan %s", ap.ID, doc.Campaign.PlanDigest)
		case ap.Actor == doc.Campaign.CreatedBy:
			return refused("approvals", "approval %s is by the campaign's creator %s, who may not approve it", ap.ID, ap.Actor)
		case seen[ap.Actor]:
			return refused("approvals", "%s approved the plan twice", ap.Actor)
		}
		seen[ap.Actor] = true
		approvers = append(approvers, fmt.Sprintf("%s (%s)", ap.Actor, ap.Role))
	}
	if len(approvers) == 0 {
		return refused("approvals", "the plan carries no approval")
	}
	// Each artifact as the manifest lists it: every one, once, with its name, size and hash.
	if len(doc.Artifacts) != len(m.Artifacts) {
		return refused("manifest", "the bundle carries %d artifacts and the signed manifest lists %d", len(doc.Artifacts), len(m.Artifacts))
	}
	for i, a := range doc.Artifacts {
		r := m.Artifacts[i]
		if a.Name != r.Name || a.Size != r.Size || a.SHA256 != r.SHA256 {
			return refused("manifest", "artifact %d of the bundle (%s, %d bytes, SHA-256 %s) is not artifact %d of the signed manifest (%s)",
				i+1, clip(a.Name, 200), a.Size, clip(a.SHA256, 64), i+1, r.Name)
		}
		if !strings.HasPrefix(a.Path, artifactsDir) || !slices.ContainsFunc(b.Header.Files, func(f transfer.FileEntry) bool {
			return f.Path == a.Path && f.SHA256 == a.SHA256 && f.Size == a.Size
		}) {
			return refused(string(transfer.ReasonMissingFile), "artifact %s is not in the bundle as plan.json lists it", a.Name)
		}
	}
	// The targets must be this site's assets, in the zones the plan says.
	var missing []string
	for _, tg := range plan.Targets {
		as, err := n.Store.Asset(ctx, tg.AssetID)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (%s) is not in this instance's inventory", tg.Name, tg.AssetID))
			continue
		}
		if as.ZoneID != tg.ZoneID {
			missing = append(missing, fmt.Sprintf("%s is in zone %s here, and in zone %s in the plan", as.Name, as.ZoneID, tg.ZoneID))
		}
	}
	if len(missing) > 0 {
		return refused("unknown_assets", "%s; the central instance plans with the inventory this site exported (otpatch transfer export --kind inventory)", strings.Join(missing, "; "))
	}
	if _, err := n.Store.Product(ctx, doc.Patch.ProductID); err != nil {
		return refused("unknown_product", "product %s of patch %s is not in this instance's inventory", doc.Patch.ProductID, doc.Patch.ID)
	}
	if c, err := n.Store.Campaign(ctx, doc.Campaign.ID); err == nil {
		return refused("campaign_exists", "campaign %s is here already (%s); a plan is imported once", c.ID, c.ImportedFrom)
	}
	// The artifacts go to the object store first: a campaign never exists without them.
	for _, a := range doc.Artifacts {
		if err := n.putArtifact(ctx, b.FilePath(a.Path), doc.Patch.ID, a); err != nil {
			return err
		}
	}
	waveOf := map[string]int{}
	for i, pw := range plan.Waves {
		for _, id := range pw.AssetIDs {
			waveOf[id] = i + 1
		}
	}
	targets := make([]store.CampaignAsset, 0, len(plan.Targets))
	for _, tg := range plan.Targets {
		targets = append(targets, store.CampaignAsset{AssetID: tg.AssetID, TestBench: tg.TestBench, Wave: waveOf[tg.AssetID], State: string(domain.AssetPending),
			FromVersion: tg.FromVersion, ToVersion: plan.ToVersion})
	}
	from := fmt.Sprintf("%s plan bundle %d %s", b.Header.Origin, b.Header.Sequence, b.Digest)
	c := store.Campaign{ID: doc.Campaign.ID, Name: doc.Campaign.Name, PatchID: doc.Patch.ID, Status: string(domain.CampaignDraft),
		CreatedBy: doc.Campaign.CreatedBy, Plan: string(doc.Plan), PlanDigest: doc.Campaign.PlanDigest, ImportedFrom: from,
		WorkflowID: "campaign-" + doc.Campaign.ID}
	t.CampaignID = c.ID
	details["campaign_id"], details["plan_digest"], details["approved_by"] = c.ID, c.PlanDigest, approvers
	details["patch"] = map[string]any{"id": doc.Patch.ID, "vendor_id": doc.Patch.VendorID, "version": doc.Patch.Version, "manifest_sha256": doc.Patch.ManifestSHA256, "key_fingerprint": vk.Fingerprint}
	ev.CampaignID, ev.PatchID, ev.WorkflowID, ev.Details = c.ID, doc.Patch.ID, c.WorkflowID, details
	err = n.Store.RecordTransfer(ctx, t, *ev, func(tx *gorm.DB) error {
		return store.ImportCampaign(tx, n.Store.Now(), store.ImportedCampaign{
			Vendor: store.Vendor{ID: doc.Patch.VendorID, Name: doc.Patch.VendorName, DisplayName: doc.Patch.VendorDisplay},
			Key: store.VendorKey{ID: store.NewID("vk"), VendorID: doc.Patch.VendorID, PublicKey: vk.PublicKey, Fingerprint: vk.Fingerprint,
				NotBefore: vk.NotBefore, NotAfter: vk.NotAfter},
			Patch: store.Patch{ID: doc.Patch.ID, VendorID: doc.Patch.VendorID, ProductID: doc.Patch.ProductID, PatchRef: doc.Patch.PatchRef,
				Version: doc.Patch.Version, Title: doc.Patch.Title, Status: string(domain.PatchQualified), Manifest: string(manifest),
				ManifestSHA256: doc.Patch.ManifestSHA256, Signature: doc.Patch.Signature, KeyFingerprint: vk.Fingerprint,
				SubmittedBy: doc.Patch.SubmittedBy, Report: doc.Patch.Report, CreatedAt: doc.Patch.CreatedAt},
			Artifacts: artifactsOf(doc), Campaign: c, Targets: targets, Approvals: doc.Approvals,
		})
	})
	if err != nil {
		return err
	}
	out.Summary = fmt.Sprintf("campaign %s (%q) imported: %d targets, plan %s approved by %s", c.ID, c.Name, len(targets), c.PlanDigest, strings.Join(approvers, ", "))
	return nil
}

func artifactsOf(doc planDoc) []store.PatchArtifact {
	out := make([]store.PatchArtifact, 0, len(doc.Artifacts))
	for _, a := range doc.Artifacts {
		out = append(out, store.PatchArtifact{PatchID: doc.Patch.ID, Name: a.Name, ObjectKey: artifacts.PatchKey(doc.Patch.ID, a.Name), Size: a.Size, SHA256: a.SHA256, MediaType: a.MediaType})
	}
	return out
}

// idPattern is what otpatch's ids look like (store.NewID, the demo's): a prefix, an
// underscore, then lower-case letters, digits, underscores and hyphens.
var idPattern = regexp.MustCompile(`^[a-z]{1,10}_[a-z0-9_-]{1,64}$`)

// putArtifact stores an extracted artifact under the patch's key, checked against its hash.
func (n *Node) putArtifact(ctx context.Context, path, patchID string, a planArtifact) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = n.Objects.Put(ctx, artifacts.PatchKey(patchID, a.Name), f, artifacts.Expect{Size: a.Size, SHA256: a.SHA256}, a.MediaType)
	return err
}
