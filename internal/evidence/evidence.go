// Package evidence writes and verifies a campaign's evidence bundle: one tar.gz with the
// vendor's manifest exactly as signed, its signature and key, the qualification report, the
// test-bench results, backup hashes, approvals, the per-asset deployment log, the campaign's
// audit excerpt with the contiguous chain segment and the signed checkpoints that cover it,
// a README for the auditor and a SHA256SUMS file signed with the audit checkpoint key.
// Verification works offline with only the published keys and names the file that fails.
package evidence

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/signing"
)

// File names inside a bundle.
const (
	FileReadme        = "README.md"
	FileCampaign      = "campaign.json"
	FileManifest      = "patch/manifest.json"
	FileSignature     = "patch/manifest.sig"
	FileVendorKey     = "patch/vendor-key.json"
	FileReport        = "patch/qualification-report.json"
	FileTestBench     = "test-bench.json"
	FileBackups       = "backups.json"
	FileApprovals     = "approvals.json"
	FileDeployment    = "deployment-log.json"
	FileExcerpt       = "audit/campaign-events.jsonl"
	FileChain         = "audit/chain.jsonl"
	FileCheckpointKey = "keys/checkpoint-key.json"
	FileSums          = "SHA256SUMS"
	FileSumsSig       = "SHA256SUMS.sig"
	checkpointDir     = "audit/checkpoints/"
)

// VendorKey is the vendor key that signed the manifest.
type VendorKey struct {
	Fingerprint string     `json:"fingerprint"`
	PublicKey   string     `json:"public_key"`
	NotBefore   time.Time  `json:"not_before"`
	NotAfter    time.Time  `json:"not_after"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// KeyFile is the checkpoint public key as the bundle carries it.
type KeyFile struct {
	Algorithm   string `json:"algorithm"`
	PublicKey   string `json:"public_key"`
	Fingerprint string `json:"fingerprint"`
}

// Input is what a bundle is made of; the API assembles it from the store.
type Input struct {
	CampaignID, PatchID string
	GeneratedAt         time.Time
	GeneratedBy         string
	// Campaign, TestBench, Backups, Approvals and Deployment are written as JSON.
	Campaign, TestBench, Backups, Approvals, Deployment any
	Manifest                                            []byte // exactly as signed
	Signature                                           string
	VendorKey                                           VendorKey
	Report                                              json.RawMessage
	// Excerpt is the campaign's (and its patch's) events; Chain is every event from the
	// first of them to Checkpoints' last, which covers them all.
	Excerpt, Chain []audit.Event
	Checkpoints    []audit.Checkpoint
	CheckpointKey  ed25519.PublicKey
}

// Signer signs SHA256SUMS (audit.Checkpointer.SignEvidence).
type Signer func(sums []byte) string

// Write writes the bundle as tar.gz to w.
func Write(w io.Writer, in Input, sign Signer) error {
	files, err := render(in)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var sums bytes.Buffer
	for _, n := range names {
		s := sha256.Sum256(files[n])
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), n)
	}
	files[FileSums] = sums.Bytes()
	files[FileSumsSig] = []byte(sign(sums.Bytes()) + "\n")
	names = append(names, FileSums, FileSumsSig)

	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	mtime := in.GeneratedAt.UTC().Truncate(time.Second)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func render(in Input) (map[string][]byte, error) {
	files := map[string][]byte{}
	var err error
	put := func(name string, v any) {
		if err != nil {
			return
		}
		var b []byte
		b, err = json.MarshalIndent(v, "", "  ")
		files[name] = append(b, '\n')
	}
	put(FileCampaign, in.Campaign)
	put(FileTestBench, in.TestBench)
	put(FileBackups, in.Backups)
	put(FileApprovals, in.Approvals)
	put(FileDeployment, in.Deployment)
	put(FileVendorKey, in.VendorKey)
	put(FileCheckpointKey, KeyFile{Algorithm: "ed25519", PublicKey: signing.EncodePublic(in.CheckpointKey), Fingerprint: signing.Fingerprint(in.CheckpointKey)})
	if err != nil {
		return nil, err
	}
	report := in.Report
	if len(report) == 0 {
		report = json.RawMessage("{}")
	}
	files[FileReport] = append(append([]byte(nil), report...), '\n')
	files[FileManifest] = in.Manifest
	files[FileSignature] = []byte(strings.TrimSpace(in.Signature) + "\n")
	files[FileExcerpt] = jsonl(in.Excerpt)
	files[FileChain] = jsonl(in.Chain)
	for _, c := range in.Checkpoints {
		files[checkpointDir+fmt.Sprintf("%d.json", c.Seq)] = c.Marshal()
	}
	files[FileReadme] = readme(in)
	return files, nil
}

func jsonl(evs []audit.Event) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, e := range evs {
		_ = enc.Encode(e)
	}
	return b.Bytes()
}

func readme(in Input) []byte {
	var b strings.Builder
	first, last, cp := int64(0), int64(0), int64(0)
	if n := len(in.Chain); n > 0 {
		first, last = in.Chain[0].Seq, in.Chain[n-1].Seq
	}
	if n := len(in.Checkpoints); n > 0 {
		cp = in.Checkpoints[n-1].Seq
	}
	fmt.Fprintf(&b, `# Evidence bundle: campaign %s

Generated %s by %s. Patch %s.

## Verify it

    otpatch evidence verify --checkpoint-key KEY %s

KEY is the audit checkpoint public key published by the otpatch server at
`+"`GET /api/v1/audit/key`"+` (a PEM file, the base64 key, or that endpoint's JSON answer).
Without --checkpoint-key the key in %s is used and its fingerprint is printed: compare it
with the published one (%s).

The verification is offline and checks, naming the file that fails:

1. every file against %s (sha256sum -c SHA256SUMS does the same), and that no file was
   added or removed;
2. %s, the ed25519 signature of SHA256SUMS by the checkpoint key;
3. the vendor's signature in %s over %s (the exact bytes the vendor signed)
   with the vendor key in %s, whose fingerprint the campaign records;
4. the audit chain segment %s (events %d to %d): every event hashes to its stored hash and
   links to the one before it, and its last event matches the signed checkpoint %d in %s
   (the checkpoints are kept in the object store under retention, so the operator cannot
   rewrite the chain without this failing);
5. every event of %s (the campaign's and its patch's events) appears unchanged in the
   chain segment.

## Files

| file | what it holds |
|---|---|
| %s | the campaign: name, status, creator, plan and plan digest |
| %s | the patch manifest exactly as the vendor signed it |
| %s | the vendor's ed25519 signature (base64) |
| %s | the vendor key (fingerprint, public key, validity) |
| %s | the qualification report: signature, artifact hashes, compatibility, applicability |
| %s | test-bench assets: state, versions, errors |
| %s | per asset: backup object key, size and SHA-256 (read back and verified before deploy) |
| %s | approvals and rejections: who, role, when, plan digest |
| %s | per asset: state, versions, wave, errors, device operations and audit events |
| %s | the audit events of the campaign and its patch |
| %s | every audit event from the first of those to the covering checkpoint |
| audit/checkpoints/SEQ.json | the signed checkpoints in that range |
| %s | the checkpoint public key |
`, in.CampaignID, in.GeneratedAt.UTC().Format(time.RFC3339), in.GeneratedBy, in.PatchID,
		"evidence-"+in.CampaignID+".tar.gz", FileCheckpointKey, signing.Fingerprint(in.CheckpointKey),
		FileSums, FileSumsSig, FileSignature, FileManifest, FileVendorKey,
		FileChain, first, last, cp, checkpointDir, FileExcerpt,
		FileCampaign, FileManifest, FileSignature, FileVendorKey, FileReport, FileTestBench, FileBackups, FileApprovals, FileDeployment,
		FileExcerpt, FileChain, FileCheckpointKey)
	return []byte(b.String())
}
