// Package airgap carries campaigns to air-gapped sites and their results back, as signed
// transfer bundles (internal/transfer, docs/transfer-format.md) that an operator moves on
// removable media or through a data diode.
//
// The central instance writes a plan bundle for one approved campaign of an air-gapped site:
// the plan exactly as approved with its approvals and digest, the vendor's signed manifest,
// its artifacts and the vendor key. The site's own instance (site mode: it knows its site and
// pins the central transfer key) imports it after checking the central signature, the vendor
// signature, the plan digest and the approvals, and runs the campaign with the same engine in
// the plan's windows. It writes results bundles (per-asset outcomes, backup hashes, device
// output, and its own evidence bundle with its audit events and signed checkpoint) and
// inventory bundles (its assets' installed versions), which the central instance imports
// against the site's pinned key.
package airgap

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/otpatch/otpatch/internal/artifacts"
	"github.com/otpatch/otpatch/internal/domain"
	"github.com/otpatch/otpatch/internal/signing"
	"github.com/otpatch/otpatch/internal/store"
	"github.com/otpatch/otpatch/internal/transfer"
)

// Files inside bundles, under files/.
const (
	filePlan      = "plan.json"
	fileManifest  = "manifest.json"
	fileResults   = "results.json"
	fileEvidence  = "evidence.tar.gz"
	fileInventory = "inventory.json"
	artifactsDir  = "artifacts/"
)

// Expiry bounds: a bundle lasts DefaultExpiry unless asked otherwise, at most MaxExpiry.
const (
	DefaultExpiry = 14 * 24 * time.Hour
	MaxExpiry     = 90 * 24 * time.Hour
)

// MaxBundleSize bounds a bundle an instance imports.
const MaxBundleSize = 8 << 30

// Node is one otpatch instance's side of air-gapped transfers.
type Node struct {
	Store   *store.Store
	Objects *artifacts.Store
	// Key is this instance's transfer key; Origin names it in the bundles it writes.
	Key    ed25519.PrivateKey
	Origin string
	// Site, on an air-gapped site's own instance, is its site id; CentralKey is the central
	// instance's transfer key it pins. Both empty on the central instance.
	Site       string
	CentralKey ed25519.PublicKey
	// TempDir holds bundles being written or imported ("" : the system's).
	TempDir string
	// Evidence writes the campaign's evidence bundle (with the audit events and signed
	// checkpoint) for a results bundle; nil leaves it out.
	Evidence func(ctx context.Context, campaignID string, by store.Event, w io.Writer) error
}

// SiteMode reports whether this is an air-gapped site's own instance.
func (n *Node) SiteMode() bool { return n.Site != "" }

// PublicKey is this instance's transfer public key, to pin at the other side.
func (n *Node) PublicKey() ed25519.PublicKey { return n.Key.Public().(ed25519.PublicKey) }

// Refused is a bundle whose content otpatch refuses after its signature and files verified:
// a plan digest that does not match, a vendor signature that does not verify, assets the
// importer does not know. Reason is a short word, Detail says what to do.
type Refused struct {
	Reason string
	Detail string
}

func (r *Refused) Error() string { return "transfer bundle refused: " + r.Detail }

func refused(reason, format string, a ...any) error {
	return &Refused{Reason: reason, Detail: fmt.Sprintf(format, a...)}
}

// Reason is why err refused a bundle, and whether it did.
func Reason(err error) (reason, detail string, ok bool) {
	var tr *transfer.Refusal
	if errors.As(err, &tr) {
		return string(tr.Reason), tr.Detail, true
	}
	var r *Refused
	if errors.As(err, &r) {
		return r.Reason, r.Detail, true
	}
	return "", "", false
}

// Exported is a bundle written to a temporary file, ready to be sent.
type Exported struct {
	transfer.Summary
	// Name is the recommended file name: <site>-<kind>-<sequence>.tar.
	Name string
	// Again says the bundle is one written before, written again byte for byte.
	Again bool
	file  *os.File
}

// WriteTo copies the bundle to w.
func (e *Exported) WriteTo(w io.Writer) (int64, error) {
	if _, err := e.file.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	return io.Copy(w, e.file)
}

// Close removes the temporary file.
func (e *Exported) Close() {
	e.file.Close()
	os.Remove(e.file.Name())
}

// write writes a bundle to a temporary file.
func (n *Node) write(h transfer.Header, files []transfer.File) (*Exported, error) {
	f, err := os.CreateTemp(n.TempDir, ".otpatch-transfer-*.tar")
	if err != nil {
		return nil, err
	}
	sum, err := transfer.Write(f, h, files, n.Key)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &Exported{Summary: sum, Name: fmt.Sprintf("%s-%s-%d.tar", h.SiteID, h.Kind, h.Sequence), file: f}, nil
}

// Imported is what an import did.
type Imported struct {
	Kind       transfer.Kind `json:"kind" doc:"plan, results or inventory"`
	SiteID     string        `json:"site_id"`
	Sequence   uint64        `json:"sequence"`
	Digest     string        `json:"digest" doc:"SHA-256 of the bundle's header: its identity"`
	FileSHA256 string        `json:"file_sha256" doc:"SHA-256 of the whole file, as sha256sum prints it"`
	Size       int64         `json:"size"`
	Origin     string        `json:"origin" doc:"The signer's name"`
	// Duplicate: the bundle was the last one imported; nothing changed.
	Duplicate  bool   `json:"duplicate" doc:"The same bundle as the last one imported of its site and kind: accepted, and nothing changed"`
	CampaignID string `json:"campaign_id,omitempty"`
	// Summary says in words what changed.
	Summary string `json:"summary"`
	// NotInInventory lists inventory assets this instance does not know (inventory bundles).
	NotInInventory []string `json:"not_in_inventory,omitempty" doc:"Inventory bundles: assets of the site this instance does not have; add them to the inventory to plan with them"`
}

// ImportLimits bound what one import reads.
var importLimits = transfer.Options{MaxFileSize: 4 << 30, MaxTotalSize: MaxBundleSize}

// Import verifies and applies the bundle in file (a whole bundle, already read to a file):
// plan bundles on a site's own instance, results and inventory bundles on the central one.
// ev is the audit event template of the person importing it. A refused bundle changes
// nothing and yields an error Reason understands.
//
// acceptGap imports a bundle whose sequence number is more than one above the last imported
// (the bundles between never arrived): an operator's explicit decision, recorded with the
// numbers missed in the import's audit event.
func (n *Node) Import(ctx context.Context, file string, ev store.Event, acceptGap bool) (Imported, error) {
	peek, err := transfer.PeekFile(file)
	var pub ed25519.PublicKey
	opt := importLimits
	opt.Now = n.Store.Now()
	switch {
	case n.SiteMode():
		pub, opt.Kind, opt.SiteID = n.CentralKey, transfer.KindPlan, n.Site
	case err != nil:
		// Not readable enough to name its site: any key will do for Open to say why.
		pub = n.PublicKey()
	default:
		if peek.Kind == transfer.KindPlan {
			return Imported{}, refused(string(transfer.ReasonKind), "this is a plan bundle for site %s; plan bundles are imported by the site's own instance (site mode), not by the central one", peek.SiteID)
		}
		site, serr := n.Store.Site(ctx, peek.SiteID)
		if errors.Is(serr, store.ErrNotFound) {
			return Imported{}, refused(string(transfer.ReasonSite), "the bundle is from site %q, which is not in this instance's inventory", peek.SiteID)
		} else if serr != nil {
			return Imported{}, serr
		}
		if site.TransferKey == "" {
			return Imported{}, refused("no_pinned_key", "site %s has no pinned transfer key: set the site instance's key (GET /api/v1/transfers/key there) with PATCH /api/v1/sites/%s {\"device_work\": \"air_gapped\", \"transfer_key\": …}", site.ID, site.ID)
		}
		if pub, err = signing.DecodePublic(site.TransferKey); err != nil {
			return Imported{}, fmt.Errorf("site %s's pinned transfer key: %w", site.ID, err)
		}
		opt.SiteID = site.ID
	}
	dir, err := os.MkdirTemp(n.TempDir, ".otpatch-import-*")
	if err != nil {
		return Imported{}, err
	}
	defer os.RemoveAll(dir)
	opt.ExtractTo = dir + "/bundle"
	b, err := transfer.OpenFile(file, pub, opt)
	if err != nil {
		return Imported{}, err
	}
	h := b.Header
	last, _, err := n.Store.LastTransfer(ctx, h.SiteID, string(h.Kind), store.TransferIn)
	if err != nil {
		return Imported{}, err
	}
	out := Imported{Kind: h.Kind, SiteID: h.SiteID, Sequence: h.Sequence, Digest: b.Digest, FileSHA256: b.SHA256, Size: b.Size, Origin: h.Origin}
	dup, err := transfer.CheckSequence(last.Sequence, last.Digest, h, b.Digest)
	var gap *transfer.Refusal
	if errors.As(err, &gap) && gap.Reason == transfer.ReasonSequenceGap && acceptGap {
		err = nil
	} else {
		gap = nil
	}
	if err != nil {
		return Imported{}, err
	}
	if dup {
		out.Duplicate, out.CampaignID = true, last.CampaignID
		out.Summary = fmt.Sprintf("%s bundle %d of site %s was imported already (%s); nothing changed", h.Kind, h.Sequence, h.SiteID, last.RecordedAt.UTC().Format(time.RFC3339))
		return out, nil
	}
	t := &store.Transfer{SiteID: h.SiteID, Kind: string(h.Kind), Direction: store.TransferIn, Sequence: h.Sequence, Digest: b.Digest,
		FileSHA256: b.SHA256, Size: b.Size, Origin: h.Origin, CreatedAt: h.CreatedAt, ExpiresAt: h.ExpiresAt, RecordedBy: ev.Actor}
	ev.Action, ev.SubjectType, ev.SubjectID = "transfer.imported", "site", h.SiteID
	details := map[string]any{"kind": h.Kind, "site_id": h.SiteID, "sequence": h.Sequence, "digest": b.Digest, "file_sha256": b.SHA256,
		"size": b.Size, "origin": h.Origin, "key_id": h.KeyID, "created_at": h.CreatedAt, "expires_at": h.ExpiresAt}
	if gap != nil {
		details["gap_accepted"] = map[string]any{"last_imported": last.Sequence, "missed_from": last.Sequence + 1, "missed_to": h.Sequence - 1}
	}
	switch h.Kind {
	case transfer.KindPlan:
		err = n.importPlan(ctx, b, t, &ev, details, &out)
	case transfer.KindResults:
		err = n.importResults(ctx, b, t, &ev, details, &out)
	case transfer.KindInventory:
		err = n.importInventory(ctx, b, t, &ev, details, &out)
	default:
		err = refused(string(transfer.ReasonKind), "unknown bundle kind %q", h.Kind)
	}
	if err != nil {
		// Imported meanwhile by another request: the same as importing it twice.
		if again, ok, lerr := n.Store.LastTransfer(ctx, h.SiteID, string(h.Kind), store.TransferIn); lerr == nil && ok && again.Digest == b.Digest {
			out.Duplicate, out.CampaignID = true, again.CampaignID
			out.Summary = fmt.Sprintf("%s bundle %d of site %s was imported by another request at the same time; nothing more changed", h.Kind, h.Sequence, h.SiteID)
			return out, nil
		}
		return Imported{}, err
	}
	out.CampaignID = t.CampaignID
	return out, nil
}

// header is the header of a new bundle of this instance for site and kind: the next sequence.
func (n *Node) header(ctx context.Context, site string, kind transfer.Kind, expiresIn time.Duration) (transfer.Header, error) {
	if expiresIn <= 0 {
		expiresIn = DefaultExpiry
	}
	if expiresIn > MaxExpiry {
		return transfer.Header{}, invalid("a bundle may last at most %d days, not %s", int(MaxExpiry.Hours()/24), expiresIn)
	}
	seq, err := n.Store.NextTransferSequence(ctx, site, string(kind))
	if err != nil {
		return transfer.Header{}, err
	}
	now := n.Store.Now().UTC().Truncate(time.Second)
	return transfer.Header{Kind: kind, SiteID: site, Sequence: seq, CreatedAt: now, ExpiresAt: now.Add(expiresIn), Origin: n.Origin}, nil
}

// writeNext writes the next bundle of site and kind and records it: the sequence number is
// taken only by a bundle written whole.
func (n *Node) writeNext(ctx context.Context, site string, kind transfer.Kind, expiresIn time.Duration, files []transfer.File,
	campaignID, status, detail string, ev store.Event) (*Exported, error) {
	h, err := n.header(ctx, site, kind, expiresIn)
	if err != nil {
		return nil, err
	}
	e, err := n.write(h, files)
	if err != nil {
		return nil, err
	}
	if err := n.record(ctx, e, campaignID, status, detail, ev); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// record records a written bundle.
func (n *Node) record(ctx context.Context, e *Exported, campaignID, status, detail string, ev store.Event) error {
	h := e.Header
	t := &store.Transfer{SiteID: h.SiteID, Kind: string(h.Kind), Direction: store.TransferOut, Sequence: h.Sequence, Digest: e.Digest,
		FileSHA256: e.SHA256, Size: e.Size, CampaignID: campaignID, Origin: h.Origin, CreatedAt: h.CreatedAt, ExpiresAt: h.ExpiresAt,
		RecordedBy: ev.Actor, Status: status, Detail: detail}
	ev.Action, ev.SubjectType, ev.SubjectID, ev.CampaignID = "transfer.exported", "site", h.SiteID, campaignID
	ev.Details = map[string]any{"kind": h.Kind, "site_id": h.SiteID, "sequence": h.Sequence, "digest": e.Digest, "file_sha256": e.SHA256,
		"size": e.Size, "files": len(h.Files), "key_id": h.KeyID, "expires_at": h.ExpiresAt}
	return n.Store.RecordTransfer(ctx, t, ev, nil)
}

// invalid is a request this instance cannot do, in the reader's terms.
func invalid(format string, a ...any) error {
	return &domain.ValidationError{What: "transfer", Fields: []domain.FieldError{{Field: "request", Message: fmt.Sprintf(format, a...)}}}
}
