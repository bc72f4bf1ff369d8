// Package evidence writes and verifies a campaign's evidence bundle: one tar.gz with the
// vendor's manifest exactly as signed, its signature and key, the qualification report, the
// test-bench results, backup hashes, approvals, the per-asset deployment log, the campaign's
// own audit events — each with its inclusion proof to one signed checkpoint of the Merkle tree
// log — a README for the auditor and a SHA256SUMS file signed with the audit checkpoint key.
// Verification works offline with only the published keys and names the file or event that
// fails; docs/audit-format.md specifies every byte, and docs/verify-evidence.py checks a
// bundle with Python and openssl alone.
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
	FileVendorPEM     = "patch/vendor-key.pem"
	FileReport        = "patch/qualification-report.json"
	FileTestBench     = "test-bench.json"
	FileBackups       = "backups.json"
	FileApprovals     = "approvals.json"
	FileDeployment    = "deployment-log.json"
	FileEvents        = "audit/events.jsonl"
	FileProofs        = "audit/proofs.jsonl"
	FileCheckpoint    = "audit/checkpoint"
	FileCheckpointKey = "keys/checkpoint-key.pem"
	FileVerifierKey   = "keys/checkpoint-key.vkey"
	FileSums          = "SHA256SUMS"
	FileSumsSig       = "SHA256SUMS.sig"
)

// VendorKey is the vendor key that signed the manifest.
type VendorKey struct {
	Fingerprint string     `json:"fingerprint"`
	PublicKey   string     `json:"public_key"`
	NotBefore   time.Time  `json:"not_before"`
	NotAfter    time.Time  `json:"not_after"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// Proof is one line of audit/proofs.jsonl: the inclusion proof of event Seq (leaf Seq-1) in
// the log of TreeSize events that audit/checkpoint signs.
type Proof struct {
	Seq       int64    `json:"seq"`
	LeafIndex int64    `json:"leaf_index"`
	TreeSize  int64    `json:"tree_size"`
	Hashes    []string `json:"hashes"`
}

// Input is what a bundle is made of; the API assembles it from the store.
type Input struct {
	CampaignID, PatchID string
	GeneratedAt         time.Time
	GeneratedBy         string
	// Campaign, TestBench, Backups, Approvals and Deployment are written as JSON.
	Campaign, TestBench, Backups, Approvals, Deployment any
	Manifest                                            []byte // exactly as signed
	Signature                                           string // base64, as the vendor sent it
	VendorKey                                           VendorKey
	Report                                              json.RawMessage
	// Events are the campaign's audit events, in sequence order; Proofs[i] is the inclusion
	// path of Events[i] in the log that Checkpoint signs.
	Events        []audit.Event
	Proofs        [][][]byte
	Checkpoint    audit.TreeCheckpoint
	CheckpointKey ed25519.PublicKey
	// Sites are files from the results of air-gapped sites that ran the campaign, by name
	// under sites/ ("sites/<site>/evidence.tar.gz": the site's own evidence bundle, signed
	// with its own audit key; "sites/<site>/results.json"). SHA256SUMS covers them.
	Sites map[string][]byte
}

// SitesDir holds what air-gapped sites returned of the campaign.
const SitesDir = "sites/"

// Signer signs SHA256SUMS (audit.Checkpointer.SignEvidence): the raw ed25519 signature.
type Signer func(sums []byte) []byte

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
	files[FileSumsSig] = sign(sums.Bytes())
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
	if len(in.Proofs) != len(in.Events) {
		return nil, fmt.Errorf("evidence: %d events but %d inclusion proofs", len(in.Events), len(in.Proofs))
	}
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
	if err != nil {
		return nil, err
	}
	report := in.Report
	if len(report) == 0 {
		report = json.RawMessage("{}")
	}
	files[FileReport] = append(append([]byte(nil), report...), '\n')
	files[FileManifest] = in.Manifest
	sig, err := signing.ParseSignature(in.Signature)
	if err != nil {
		return nil, fmt.Errorf("evidence: the vendor signature: %w", err)
	}
	files[FileSignature] = sig
	vpub, err := signing.DecodePublic(in.VendorKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("evidence: the vendor key: %w", err)
	}
	if files[FileVendorPEM], err = signing.MarshalPublic(vpub); err != nil {
		return nil, err
	}
	if files[FileCheckpointKey], err = signing.MarshalPublic(in.CheckpointKey); err != nil {
		return nil, err
	}
	files[FileVerifierKey] = []byte(audit.VerifierKey(in.CheckpointKey, in.Checkpoint.Origin) + "\n")
	files[FileCheckpoint] = in.Checkpoint.Note
	var events, proofs bytes.Buffer
	for i, e := range in.Events {
		events.Write(e.Leaf())
		events.WriteByte('\n')
		p := Proof{Seq: e.Seq, LeafIndex: e.Seq - 1, TreeSize: in.Checkpoint.Size, Hashes: make([]string, len(in.Proofs[i]))}
		for j, h := range in.Proofs[i] {
			p.Hashes[j] = hex.EncodeToString(h)
		}
		b, _ := json.Marshal(p)
		proofs.Write(append(b, '\n'))
	}
	files[FileEvents], files[FileProofs] = events.Bytes(), proofs.Bytes()
	files[FileReadme] = readme(in)
	for name, b := range in.Sites {
		if !strings.HasPrefix(name, SitesDir) || files[name] != nil {
			return nil, fmt.Errorf("evidence: site file %q is not under %s", name, SitesDir)
		}
		files[name] = b
	}
	return files, nil
}

func readme(in Input) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `# Evidence bundle: campaign %s

Generated %s by %s. Patch %s. %d audit events of this campaign, each proved to be in the
audit log of %d events that the checkpoint in %s signs.

docs/audit-format.md of otpatch specifies every file and signature of this bundle; its
docs/verify-evidence.py checks all of it with Python and openssl alone:

    python3 verify-evidence.py --key PUBLISHED %s

and otpatch checks it too:

    otpatch evidence verify --checkpoint-key PUBLISHED %s

PUBLISHED is the audit checkpoint key the otpatch server publishes at `+"`GET /api/v1/audit/key`"+`
(that answer, a PEM file or the verifier key). Without it the key in %s is used; compare its
fingerprint (%s) with the published one.

## Check it by hand

    sha256sum -c SHA256SUMS
    openssl pkeyutl -verify -pubin -inkey %s -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig
    openssl pkeyutl -verify -pubin -inkey %s -rawin -in %s -sigfile %s

The first checks every file, the second that the checkpoint key signed that list (a raw
ed25519 signature of exactly the bytes of SHA256SUMS), the third the vendor's signature of
the manifest. Each line of %s is one event exactly as the log hashed it: its leaf hash is
SHA-256 of a zero byte followed by the line (without its newline), and the same line of
%s holds the RFC 9162 inclusion proof of that hash up to the root hash in %s, a C2SP
tlog-checkpoint signed note.

## Files

| file | what it holds |
|---|---|
| %s | the campaign: name, status, creator, plan and plan digest |
| %s | the patch manifest exactly as the vendor signed it |
| %s | the vendor's raw ed25519 signature of the manifest |
| %s, %s | the vendor key (PEM; fingerprint, public key, validity) |
| %s | the qualification report: signature, artifact hashes, compatibility, applicability |
| %s | test-bench assets: state, versions, errors |
| %s | per asset: backup object key, size and SHA-256 (read back and verified before deploy) |
| %s | approvals and rejections: who, role, when, plan digest |
| %s | per asset: state, versions, wave, errors, device operations and audit events |
| %s | this campaign's audit events, one log leaf per line |
| %s | the inclusion proof of each event |
| %s | the signed checkpoint (log size and root hash) |
| %s, %s | the checkpoint key (PEM; note verifier key) |
| SHA256SUMS, SHA256SUMS.sig | the SHA-256 of every other file, and its signature |
`, in.CampaignID, in.GeneratedAt.UTC().Format(time.RFC3339), in.GeneratedBy, in.PatchID, len(in.Events), in.Checkpoint.Size, FileCheckpoint,
		"evidence-"+in.CampaignID+".tar.gz", "evidence-"+in.CampaignID+".tar.gz", FileCheckpointKey, signing.Fingerprint(in.CheckpointKey),
		FileCheckpointKey, FileVendorPEM, FileManifest, FileSignature,
		FileEvents, FileProofs, FileCheckpoint,
		FileCampaign, FileManifest, FileSignature, FileVendorPEM, FileVendorKey, FileReport, FileTestBench, FileBackups, FileApprovals, FileDeployment,
		FileEvents, FileProofs, FileCheckpoint, FileCheckpointKey, FileVerifierKey)
	return []byte(b.String())
}
