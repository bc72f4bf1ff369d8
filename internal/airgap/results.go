package airgap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/evidence"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/transfer"
)

// resultsDoc is results.json of a results bundle: the campaign at the site when it was
// written. evidence.tar.gz beside it is the site's evidence bundle of the campaign, with its
// audit events and their proofs to a checkpoint the site's audit key signed.
type resultsDoc struct {
	CampaignID string                `json:"campaign_id"`
	PlanDigest string                `json:"plan_digest"`
	Status     domain.CampaignStatus `json:"status"`
	Detail     string                `json:"detail"`
	WrittenAt  time.Time             `json:"written_at"`
	Assets     []resultAsset         `json:"assets"`
}

type resultAsset struct {
	store.CampaignAsset
	Name string `json:"name"`
	// Log is the device's output during the campaign (at most maxLogLines lines).
	Log []logLine `json:"log"`
}

type logLine struct {
	Stream string    `json:"stream"`
	Text   string    `json:"text"`
	At     time.Time `json:"at"`
}

// maxSiteEvents bounds the site events one results import lists in its audit event.
const maxSiteEvents = 2000

// maxLogLines bounds the device output one asset's results carry.
const maxLogLines = 2000

// ExportResults writes a results bundle of an imported campaign, as it stands now, at a
// site's own instance. A campaign still running can be reported too; later bundles say more.
func (n *Node) ExportResults(ctx context.Context, campaignID string, expiresIn time.Duration, ev store.Event) (*Exported, error) {
	if !n.SiteMode() {
		return nil, invalid("results bundles are written by an air-gapped site's own instance (started with --transfer-site)")
	}
	c, err := n.Store.Campaign(ctx, campaignID)
	if err != nil {
		return nil, err
	}
	if c.ImportedFrom == "" {
		return nil, invalid("campaign %s was not imported from a plan bundle; only those report back", c.ID)
	}
	cas, err := n.Store.CampaignAssets(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	names, err := n.Store.AssetNames(ctx, cas)
	if err != nil {
		return nil, err
	}
	doc := resultsDoc{CampaignID: c.ID, PlanDigest: c.PlanDigest, Status: domain.CampaignStatus(c.Status), Detail: c.Detail, WrittenAt: n.Store.Now().UTC(), Assets: []resultAsset{}}
	for _, ca := range cas {
		ra := resultAsset{CampaignAsset: ca, Name: names[ca.AssetID], Log: []logLine{}}
		lines, err := n.Store.DeploymentLog(ctx, c.ID, ca.AssetID, store.LogCursor{}, maxLogLines)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			ra.Log = append(ra.Log, logLine{Stream: l.Stream, Text: l.Text, At: l.At})
		}
		doc.Assets = append(doc.Assets, ra)
	}
	docJSON, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	files := []transfer.File{transfer.BytesFile(fileResults, append(docJSON, '\n'))}
	if n.Evidence == nil {
		return nil, fmt.Errorf("this instance makes no evidence bundles (no audit checkpoints): %w", store.ErrConflict)
	}
	var ebuf bytes.Buffer
	if err := n.Evidence(ctx, c.ID, store.Event{Actor: ev.Actor, Role: ev.Role, RequestID: ev.RequestID}, &ebuf); err != nil {
		return nil, err
	}
	files = append(files, transfer.BytesFile(fileEvidence, ebuf.Bytes()))
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	ev.PatchID = c.PatchID
	return n.writeNext(ctx, n.Site, transfer.KindResults, expiresIn, files, c.ID, c.Status, c.Detail, ev)
}

// importResults applies a verified results bundle at the central instance: the targets'
// states, the site's status of the campaign, the site's evidence bundle kept beside the
// campaign (and in its evidence), the device output in the deployment log.
func (n *Node) importResults(ctx context.Context, b *transfer.Bundle, t *store.Transfer, ev *store.Event, details map[string]any, out *Imported) error {
	raw, err := readLimited(b.FilePath(fileResults), 256<<20)
	if err != nil {
		return refused(string(transfer.ReasonMissingFile), "the results bundle holds no %s", fileResults)
	}
	var doc resultsDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return refused("bad_results", "%s is not results otpatch can read", fileResults)
	}
	c, err := n.Store.Campaign(ctx, doc.CampaignID)
	if err != nil {
		return refused("unknown_campaign", "campaign %s is not one of this instance's", doc.CampaignID)
	}
	var plan domain.Plan
	if err := json.Unmarshal([]byte(c.Plan), &plan); err != nil {
		return fmt.Errorf("campaign %s plan: %w", c.ID, err)
	}
	if plan.TransferSite != b.Header.SiteID {
		return refused(string(transfer.ReasonSite), "campaign %s is not carried to site %s", c.ID, b.Header.SiteID)
	}
	if doc.PlanDigest != c.PlanDigest {
		return refused("plan_digest", "the site ran plan %s; campaign %s's plan is %s", doc.PlanDigest, c.ID, c.PlanDigest)
	}
	if !validStatus(doc.Status) {
		return refused("bad_results", "the site reports status %q, which otpatch does not know", doc.Status)
	}
	cas, err := n.Store.CampaignAssets(ctx, c.ID)
	if err != nil {
		return err
	}
	target := map[string]bool{}
	for _, ca := range cas {
		target[ca.AssetID] = true
	}
	changes := map[string]store.AssetChange{}
	// What each device runs now, as the site saw it: the inventory follows the outcome.
	versions := map[string]string{}
	outcomes := []map[string]any{}
	seen := map[string]bool{}
	for _, ra := range doc.Assets {
		if seen[ra.AssetID] {
			return refused("bad_results", "the results name asset %s twice", clip(ra.AssetID, 100))
		}
		seen[ra.AssetID] = true
		if !target[ra.AssetID] {
			return refused("bad_results", "the results name asset %s, which is not a target of campaign %s", clip(ra.AssetID, 100), c.ID)
		}
		if len(ra.Log) > maxLogLines {
			return refused("bad_results", "the results carry %d lines of device output for asset %s; at most %d are taken", len(ra.Log), ra.AssetID, maxLogLines)
		}
		if len(ra.FromVersion) > 100 || len(ra.ToVersion) > 100 || len(ra.BackupKey) > 500 || (ra.BackupSHA256 != "" && len(ra.BackupSHA256) != 64) {
			return refused("bad_results", "the results give asset %s versions, a backup key or a backup SHA-256 otpatch does not take (too long, or not a SHA-256 in hex)", ra.AssetID)
		}
		ra.Name = clip(ra.Name, 200)
		if !validAssetState(domain.AssetState(ra.State)) {
			return refused("bad_results", "the results give asset %s state %q, which otpatch does not know", ra.AssetID, ra.State)
		}
		e := clip(ra.Error, 2000)
		ch := store.AssetChange{State: domain.AssetState(ra.State), Error: &e, FromVersion: ra.FromVersion, ToVersion: ra.ToVersion}
		if ra.BackupSHA256 != "" {
			// The backup stays at the site; its key names it there.
			ch.Backup = &store.BackupRef{Key: "site:" + b.Header.SiteID + "/" + ra.BackupKey, SHA256: ra.BackupSHA256, Size: ra.BackupSize}
		}
		changes[ra.AssetID] = ch
		switch domain.AssetState(ra.State) {
		case domain.AssetDone:
			if ra.ToVersion != "" {
				versions[ra.AssetID] = ra.ToVersion
			}
		case domain.AssetRolledBack, domain.AssetAborted:
			if ra.FromVersion != "" {
				versions[ra.AssetID] = ra.FromVersion
			}
		}
		o := map[string]any{"asset_id": ra.AssetID, "name": ra.Name, "state": ra.State}
		if ra.BackupSHA256 != "" {
			o["backup_sha256"], o["backup_size"] = ra.BackupSHA256, ra.BackupSize
		}
		if ra.Error != "" {
			o["error"] = e
		}
		outcomes = append(outcomes, o)
	}
	// The site's evidence: verified with the audit key inside it, which the site's transfer
	// signature vouches for; kept beside the campaign.
	ebytes, err := readLimited(b.FilePath(fileEvidence), 1<<30)
	if err != nil {
		return refused(string(transfer.ReasonMissingFile), "the results bundle holds no %s", fileEvidence)
	}
	rep, siteEvents, err := evidence.VerifiedEvents(ebytes, nil)
	if err != nil {
		return refused("site_evidence", "the site's evidence bundle does not verify: %v", err)
	}
	if rep.CampaignID != c.ID {
		return refused("site_evidence", "the site's evidence bundle is of campaign %s, not %s", rep.CampaignID, c.ID)
	}
	prefix := fmt.Sprintf("transfers/%s/results-%d/", b.Header.SiteID, b.Header.Sequence)
	for name, body := range map[string][]byte{fileEvidence: ebytes, fileResults: raw} {
		if _, err := n.Objects.Put(ctx, prefix+name, bytes.NewReader(body), artifacts.Expect{Size: int64(len(body))}, "application/octet-stream"); err != nil {
			return err
		}
	}
	t.CampaignID, t.Status, t.Detail = c.ID, string(doc.Status), clip(doc.Detail, 2000)
	details["campaign_id"], details["site_status"], details["site_detail"] = c.ID, doc.Status, t.Detail
	details["outcomes"] = outcomes
	// The site's events of the campaign, each as the site's log holds it (its sequence number
	// and hash there): with the site's checkpoint they are proved in the site's log.
	events := make([]map[string]any, 0, min(len(siteEvents), maxSiteEvents))
	if len(siteEvents) > maxSiteEvents {
		details["site_events_not_listed"] = len(siteEvents) - maxSiteEvents // they are in the site's evidence, kept beside
		siteEvents = siteEvents[len(siteEvents)-maxSiteEvents:]
	}
	for _, e := range siteEvents {
		se := map[string]any{"seq": e.Seq, "at": e.At, "actor": e.Actor, "role": e.Role, "action": e.Action, "leaf_hash": e.LeafHash}
		if e.AssetID != "" {
			se["asset_id"] = e.AssetID
		}
		events = append(events, se)
	}
	details["site_events"] = events
	details["site_evidence"] = map[string]any{"object_key": prefix + fileEvidence, "sha256": sha256Hex(ebytes), "events": rep.Events,
		"checkpoint_origin": rep.Origin, "checkpoint_tree_size": rep.TreeSize, "checkpoint_key": rep.CheckpointKey}
	ev.CampaignID, ev.PatchID, ev.Details = c.ID, c.PatchID, details
	details["installed_versions"] = versions
	// The device output, with the outcome, in the same transaction: an import is whole or not.
	var lines []store.DeploymentLogLine
	for _, ra := range doc.Assets {
		for _, l := range ra.Log {
			lines = append(lines, store.NewDeploymentLogLine(c.ID, ra.AssetID, clip(l.Stream, 20),
				"[site "+b.Header.SiteID+" "+l.At.UTC().Format(time.RFC3339)+"] "+l.Text, n.Store.Now()))
		}
	}
	err = n.Store.RecordTransfer(ctx, t, *ev, func(tx *gorm.DB) error {
		if err := store.ApplyAssetChanges(tx, n.Store.Now(), c.ID, changes); err != nil {
			return err
		}
		if err := store.SetInstalledVersions(tx, n.Store.Now(), versions); err != nil {
			return err
		}
		// A later results bundle carries the whole output again: it replaces the earlier copy.
		if err := tx.Where("campaign_id = ? AND text LIKE ?", c.ID, "[site "+b.Header.SiteID+" %").Delete(&store.DeploymentLogLine{}).Error; err != nil {
			return err
		}
		if len(lines) == 0 {
			return nil
		}
		return tx.CreateInBatches(lines, 500).Error
	})
	if err != nil {
		return err
	}
	done := 0
	for _, ra := range doc.Assets {
		if domain.AssetState(ra.State).Final() {
			done++
		}
	}
	out.Summary = fmt.Sprintf("site %s reports campaign %s %s (%s); %d of %d targets ended; the site's evidence holds %d audit events under checkpoint %s",
		b.Header.SiteID, c.ID, doc.Status, strings.TrimSpace(doc.Detail), done, len(doc.Assets), rep.Events, rep.Origin)
	return nil
}

// SiteEvidence reads the site evidence bundles a campaign's imported results left, newest
// first per site: name under sites/ in the central evidence bundle, and content.
func (n *Node) SiteEvidence(ctx context.Context, campaignID string) (map[string][]byte, error) {
	ts, err := n.Store.Transfers(ctx, store.TransferFilter{CampaignID: campaignID, Kind: string(transfer.KindResults), Direction: store.TransferIn, Limit: 1})
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	t := ts[0]
	out := map[string][]byte{}
	prefix := fmt.Sprintf("transfers/%s/results-%d/", t.SiteID, t.Sequence)
	for _, name := range []string{fileEvidence, fileResults} {
		r, err := n.Objects.Open(ctx, prefix+name)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return nil, err
		}
		out[fmt.Sprintf("sites/%s/%s", t.SiteID, name)] = b
	}
	return out, nil
}

func validStatus(s domain.CampaignStatus) bool {
	return slices.ContainsFunc(domain.CampaignStatusInfo(), func(i domain.StateInfo) bool { return i.Value == string(s) })
}

func validAssetState(s domain.AssetState) bool { return slices.Contains(domain.AssetStates(), s) }

// readLimited reads a file of the bundle that otpatch parses whole, refusing one larger than
// limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, refused(string(transfer.ReasonTooLarge), "%s is %d bytes; otpatch reads at most %d of it", filepath.Base(path), st.Size(), limit)
	}
	return os.ReadFile(path)
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
