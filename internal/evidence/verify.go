package evidence

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/otpatch/otpatch/internal/audit"
	"github.com/otpatch/otpatch/internal/signing"
)

// maxBundle bounds what Verify reads.
const maxBundle = 1 << 30

// FileError names the file of a bundle that failed verification.
type FileError struct {
	File    string
	Problem string
}

func (e *FileError) Error() string { return e.File + ": " + e.Problem }

// Report is what a successful verification checked.
type Report struct {
	CampaignID string `json:"campaign_id"`
	Files      int    `json:"files"`
	Events     int    `json:"events"`
	// TreeSize and Origin are the log the checkpoint signs.
	TreeSize int64  `json:"tree_size"`
	Origin   string `json:"origin"`
	// CheckpointKey is the fingerprint of the key the bundle was checked with; KeyFromBundle
	// says it was the key inside the bundle (no published key was given).
	CheckpointKey  string `json:"checkpoint_key"`
	KeyFromBundle  bool   `json:"key_from_bundle"`
	VendorKey      string `json:"vendor_key"`
	ManifestSHA256 string `json:"manifest_sha256"`
	// Sites are the evidence bundles of air-gapped sites inside it, each verified.
	Sites []SiteReport `json:"sites,omitempty"`
}

// Verify reads a bundle and checks it offline. published is the checkpoint key the server
// publishes; nil uses the key inside the bundle (Report.KeyFromBundle). The error is a
// *FileError naming the first file, or the event, that fails.
func Verify(r io.Reader, published ed25519.PublicKey) (Report, error) {
	files, err := readBundle(r)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	rep.Files = len(files)

	// 1. The checkpoint key, and its signature over SHA256SUMS.
	sums, ok := files[FileSums]
	if !ok {
		return rep, &FileError{FileSums, "missing"}
	}
	inside, err := signing.DecodePublic(string(files[FileCheckpointKey]))
	if err != nil {
		return rep, &FileError{FileCheckpointKey, "does not hold an ed25519 public key"}
	}
	key := inside
	if published != nil {
		if !published.Equal(inside) {
			return rep, &FileError{FileCheckpointKey, fmt.Sprintf("the bundle's checkpoint key %s is not the published key %s", signing.Fingerprint(inside), signing.Fingerprint(published))}
		}
		key = published
	} else {
		rep.KeyFromBundle = true
	}
	rep.CheckpointKey = signing.Fingerprint(key)
	if _, ok := files[FileSumsSig]; !ok {
		return rep, &FileError{FileSumsSig, "missing"}
	}
	if !audit.VerifyEvidence(key, sums, files[FileSumsSig]) {
		return rep, &FileError{FileSumsSig, fmt.Sprintf("the signature over %s does not verify with the checkpoint key %s: %s or %s was altered", FileSums, rep.CheckpointKey, FileSums, FileSumsSig)}
	}

	// 2. Every file against SHA256SUMS, none added or removed.
	listed := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for line := 1; sc.Scan(); line++ {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			return rep, &FileError{FileSums, fmt.Sprintf("line %d is not \"SHA256  FILE\"", line)}
		}
		listed[name] = true
		b, ok := files[name]
		if !ok {
			return rep, &FileError{name, "listed in SHA256SUMS but missing from the bundle"}
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			return rep, &FileError{name, fmt.Sprintf("altered: its SHA-256 is %s, SHA256SUMS says %s", hex.EncodeToString(got[:]), sum)}
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !listed[n] && n != FileSums && n != FileSumsSig {
			return rep, &FileError{n, "not listed in SHA256SUMS: it was added to the bundle"}
		}
	}

	// 3. The vendor's signature over the manifest.
	var vk VendorKey
	if err := strictJSON(files[FileVendorKey], &vk); err != nil {
		return rep, &FileError{FileVendorKey, err.Error()}
	}
	vpub, err := signing.DecodePublic(vk.PublicKey)
	if err != nil || signing.Fingerprint(vpub) != vk.Fingerprint {
		return rep, &FileError{FileVendorKey, "does not hold an ed25519 key matching its fingerprint"}
	}
	if pem, err := signing.DecodePublic(string(files[FileVendorPEM])); err != nil || !pem.Equal(vpub) {
		return rep, &FileError{FileVendorPEM, "is not the vendor key of " + FileVendorKey}
	}
	if !signing.Verify(vpub, files[FileManifest], files[FileSignature]) {
		return rep, &FileError{FileManifest, fmt.Sprintf("the vendor signature in %s does not verify over it with the vendor key %s", FileSignature, vk.Fingerprint)}
	}
	rep.VendorKey = vk.Fingerprint
	ms := sha256.Sum256(files[FileManifest])
	rep.ManifestSHA256 = hex.EncodeToString(ms[:])
	var camp struct {
		ID             string `json:"id"`
		KeyFingerprint string `json:"key_fingerprint"`
		ManifestSHA256 string `json:"manifest_sha256"`
	}
	if err := json.Unmarshal(files[FileCampaign], &camp); err != nil || camp.ID == "" {
		return rep, &FileError{FileCampaign, "is not a campaign record"}
	}
	rep.CampaignID = camp.ID
	if camp.KeyFingerprint != "" && camp.KeyFingerprint != vk.Fingerprint {
		return rep, &FileError{FileVendorKey, fmt.Sprintf("key %s is not the key %s the patch was accepted with", vk.Fingerprint, camp.KeyFingerprint)}
	}
	if camp.ManifestSHA256 != "" && camp.ManifestSHA256 != rep.ManifestSHA256 {
		return rep, &FileError{FileManifest, fmt.Sprintf("its SHA-256 %s is not the manifest digest %s the campaign records", rep.ManifestSHA256, camp.ManifestSHA256)}
	}

	// 4. The checkpoint, and every event's inclusion in the log it signs.
	origin, _, _ := strings.Cut(string(files[FileCheckpoint]), "\n")
	vkey := audit.VerifierKey(key, origin)
	if got := strings.TrimSpace(string(files[FileVerifierKey])); got != vkey {
		return rep, &FileError{FileVerifierKey, fmt.Sprintf("is %q, not the verifier key %q of the checkpoint key for the log %q", got, vkey, origin)}
	}
	cp, err := audit.OpenTree(files[FileCheckpoint], vkey)
	if err != nil {
		return rep, &FileError{FileCheckpoint, err.Error()}
	}
	rep.TreeSize, rep.Origin = cp.Size, cp.Origin
	leaves := splitLines(files[FileEvents])
	proofLines := splitLines(files[FileProofs])
	if len(leaves) != len(proofLines) {
		return rep, &FileError{FileProofs, fmt.Sprintf("holds %d proofs for %d events", len(proofLines), len(leaves))}
	}
	if len(leaves) == 0 {
		return rep, &FileError{FileEvents, "holds no event"}
	}
	var last int64
	for i, leaf := range leaves {
		var e struct {
			Seq        int64  `json:"seq"`
			CampaignID string `json:"campaign_id"`
		}
		if err := json.Unmarshal(leaf, &e); err != nil || e.Seq <= 0 {
			return rep, &FileError{FileEvents, fmt.Sprintf("line %d is not an audit event", i+1)}
		}
		if e.Seq <= last {
			return rep, &FileError{FileEvents, fmt.Sprintf("event %d follows event %d: events are out of order or repeated", e.Seq, last)}
		}
		last = e.Seq
		if e.CampaignID != camp.ID {
			return rep, &FileError{FileEvents, fmt.Sprintf("event %d belongs to campaign %q, not to %s", e.Seq, e.CampaignID, camp.ID)}
		}
		var p Proof
		if err := strictJSON(proofLines[i], &p); err != nil {
			return rep, &FileError{FileProofs, fmt.Sprintf("line %d: %v", i+1, err)}
		}
		if p.Seq != e.Seq || p.LeafIndex != e.Seq-1 || p.TreeSize != cp.Size {
			return rep, &FileError{FileProofs, fmt.Sprintf("line %d proves event %d (leaf %d) in a log of %d events, not event %d in the log of %d the checkpoint signs", i+1, p.Seq, p.LeafIndex, p.TreeSize, e.Seq, cp.Size)}
		}
		path := make([][]byte, len(p.Hashes))
		for j, h := range p.Hashes {
			if path[j], err = hex.DecodeString(h); err != nil || len(path[j]) != 32 {
				return rep, &FileError{FileProofs, fmt.Sprintf("line %d: hash %d is not a SHA-256 hash in hex", i+1, j+1)}
			}
		}
		if err := audit.VerifyInclusion(uint64(p.LeafIndex), uint64(cp.Size), audit.Hasher.HashLeaf(leaf), path, cp.Root); err != nil {
			return rep, &FileError{FileEvents, fmt.Sprintf("event %d is not in the signed log: its leaf and inclusion proof do not lead to the checkpoint's root (the event was altered, or the proof or checkpoint replaced)", e.Seq)}
		}
	}
	rep.Events = len(leaves)

	// 5. The evidence bundles of air-gapped sites that ran the campaign, each checked with
	// the site's own audit key inside it (which the signed SHA256SUMS above vouches for).
	for _, n := range names {
		site, ok := strings.CutPrefix(n, SitesDir)
		if !ok || !strings.HasSuffix(site, "/evidence.tar.gz") {
			continue
		}
		site = strings.TrimSuffix(site, "/evidence.tar.gz")
		sr, err := Verify(bytes.NewReader(files[n]), nil)
		if err != nil {
			return rep, &FileError{n, fmt.Sprintf("site %s's evidence bundle does not verify: %v", site, err)}
		}
		if sr.CampaignID != rep.CampaignID {
			return rep, &FileError{n, fmt.Sprintf("site %s's evidence bundle is of campaign %s, not %s", site, sr.CampaignID, rep.CampaignID)}
		}
		rep.Sites = append(rep.Sites, SiteReport{Site: site, Events: sr.Events, Origin: sr.Origin, TreeSize: sr.TreeSize, CheckpointKey: sr.CheckpointKey})
	}
	return rep, nil
}

// SiteReport is what verified of an air-gapped site's evidence bundle inside a bundle.
type SiteReport struct {
	Site          string `json:"site"`
	Events        int    `json:"events"`
	Origin        string `json:"origin"`
	TreeSize      int64  `json:"tree_size"`
	CheckpointKey string `json:"checkpoint_key"`
}

// splitLines splits newline-terminated lines, without their newlines.
func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte("\n"))
		out = append(out, line)
		b = rest
	}
	return out
}

func readBundle(r io.Reader) (map[string][]byte, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, &FileError{"bundle", "not a gzip-compressed tar archive: " + err.Error()}
	}
	tr := tar.NewReader(io.LimitReader(gz, maxBundle))
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &FileError{"bundle", "unreadable tar archive: " + err.Error()}
		}
		name := h.Name
		if h.Typeflag != tar.TypeReg || name != path.Clean(name) || path.IsAbs(name) || strings.HasPrefix(name, "../") {
			return nil, &FileError{name, "is not a plain file of the bundle"}
		}
		if _, dup := files[name]; dup {
			return nil, &FileError{name, "appears twice in the archive"}
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, &FileError{name, "unreadable: " + err.Error()}
		}
		files[name] = b
	}
	return files, nil
}

func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not valid: %v", err)
	}
	return nil
}

// SiteEvent is an audit event as audit/events.jsonl holds it, without its details.
type SiteEvent struct {
	Seq     int64  `json:"seq"`
	At      string `json:"at"`
	Actor   string `json:"actor"`
	Role    string `json:"role"`
	Action  string `json:"action"`
	AssetID string `json:"asset_id,omitempty"`
	// LeafHash is the event's leaf hash in the site's Merkle tree log (RFC 6962), which the
	// inclusion proofs lead from to the checkpoint.
	LeafHash string `json:"leaf_hash"`
}

// VerifiedEvents verifies a bundle as Verify does and answers its audit events too.
func VerifiedEvents(b []byte, published ed25519.PublicKey) (Report, []SiteEvent, error) {
	rep, err := Verify(bytes.NewReader(b), published)
	if err != nil {
		return rep, nil, err
	}
	files, err := readBundle(bytes.NewReader(b))
	if err != nil {
		return rep, nil, err
	}
	var out []SiteEvent
	for _, line := range splitLines(files[FileEvents]) {
		var e SiteEvent
		if err := json.Unmarshal(line, &e); err != nil {
			return rep, nil, &FileError{FileEvents, "a line is not an audit event"}
		}
		e.LeafHash = hex.EncodeToString(audit.Hasher.HashLeaf(line))
		out = append(out, e)
	}
	return rep, out, nil
}
